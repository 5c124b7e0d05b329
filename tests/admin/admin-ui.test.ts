// The admin UI in a real headless Chromium against the real stack (control plane, host agent,
// gVisor sandboxes): log in, watch a sandbox appear, pause, resume, use its terminal, manage
// keys, destroy it, log out. Every page must render without console errors; each page's
// screenshot lands in artifacts/admin/ to be looked at.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Stack, type UserKey } from "../e2e-stack/stack.js";

const ARTIFACTS = join(import.meta.dirname, "..", "..", "artifacts", "admin");
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT = { timeout: 30_000 };

describe("admin UI in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let user: UserKey;
  let sandboxId: string;
  /** Console errors, uncaught exceptions and requests that left loopback, per page. */
  const problems: string[] = [];

  /** Saves the page for a human to look at, after checking every control has a name. */
  const shot = async (name: string) => {
    const unnamed = await page
      .locator("a, button, input:not([type=hidden]), select, textarea")
      .evaluateAll((controls) =>
        controls
          .filter((el) => {
            if (el.closest(".xterm")) return false; // xterm.js's own helper textarea
            const labels = (el as { labels?: ArrayLike<unknown> | null }).labels;
            const named =
              el.getAttribute("aria-label") ||
              el.getAttribute("aria-labelledby") ||
              (labels && labels.length > 0) ||
              (el.textContent ?? "").trim();
            return !named;
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
    expect(unnamed, `controls without an accessible name on ${name}`).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };
  /** Asserts nothing went wrong since the last check. */
  const noProblems = () => {
    const seen = problems.splice(0);
    expect(seen, seen.join("\n")).toEqual([]);
  };
  const row = () => page.locator(`#row-${sandboxId}`);

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    [stack, browser] = await Promise.all([
      Stack.start({ poolSize: 1 }),
      chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }),
    ]);
    user = await stack.key({ name: "ui-user" });
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // Traffic only to loopback: anything else is a failure, not a request.
    await context.route(/.*/, (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === "127.0.0.1" || host === "localhost") return route.continue();
      problems.push(`request off loopback: ${route.request().url()}`);
      return route.abort();
    });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()} (${page.url()})`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message} (${page.url()})`));
    // Destroy and revoke ask first (hx-confirm): say yes.
    page.on("dialog", (d) => void d.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("refuses a non-admin key and logs in with the admin key", async () => {
    const response = await page.goto(`${stack.url}/admin`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    const csp = response?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");

    await page.getByLabel("Admin API key").fill(user.key);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/admin\/login\?reason=not_admin/);
    expect(await page.locator("p.error").textContent()).toContain("not an admin key");
    await shot("login-refused");

    await page.getByLabel("Admin API key").fill(stack.adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${stack.url}/admin`);
    await page.locator("#overview .tiles").waitFor(WAIT);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "wrenn_admin_session");
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe("Strict");
    await expect.poll(() => page.locator("#overview").textContent()).toContain("online");
    await shot("dashboard");
    noProblems();
  });

  it("shows a sandbox created through the API without a reload, and pauses and resumes it", async () => {
    await page.goto(`${stack.url}/admin/sandboxes`);
    await page.locator("#sandbox-rows").waitFor(WAIT);
    const created = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(created.status, created.text).toBe(201);
    sandboxId = (created.body as { id: string }).id;

    // The list refreshes itself every 3 seconds.
    await row().waitFor(WAIT);
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("running");
    expect(await row().textContent()).toContain("ui-user");
    await shot("sandboxes");

    await page.getByRole("button", { name: `Pause ${sandboxId}` }).click();
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("paused");
    const paused = await stack.call("GET", `/v1/sandboxes/${sandboxId}`, { key: user.key });
    expect((paused.body as { state: string }).state).toBe("paused");

    await page.getByRole("button", { name: `Resume ${sandboxId}` }).click();
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("running");

    // Filters: by owner it stays, by another state it goes, and the URL keeps the filter.
    await page.getByLabel("Owner").selectOption(user.ownerId);
    await page.waitForURL(/owner=own-/);
    await row().waitFor(WAIT);
    await page.getByLabel("State").selectOption("paused");
    await row().waitFor({ state: "detached", ...WAIT });
    await page.getByLabel("State").selectOption("live");
    await row().waitFor(WAIT);
    noProblems();
  });

  it("opens the sandbox: state, metrics, audit log and a working terminal", async () => {
    await page.getByRole("link", { name: sandboxId, exact: true }).click();
    await page.waitForURL(`${stack.url}/admin/sandboxes/${sandboxId}`);
    await expect.poll(() => page.locator("#summary").getAttribute("data-state")).toBe("running");

    // The terminal connects by itself to a running sandbox.
    const terminal = page.locator("#terminal");
    await expect
      .poll(() => terminal.getAttribute("data-connected"), { timeout: 60_000 })
      .toBe("true");
    const lines = () =>
      page
        .locator("#terminal .xterm-rows > div")
        .evaluateAll((rows) =>
          rows.map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trim()),
        );
    // The shell's prompt first, so the keystrokes are not echoed before it.
    await expect.poll(async () => (await lines()).some((l) => l.endsWith("$")), WAIT).toBe(true);
    await terminal.click();
    await page.keyboard.type("echo hi");
    await page.keyboard.press("Enter");
    await expect.poll(lines, WAIT).toContain("hi");
    expect((await lines()).some((l) => l.endsWith("echo hi"))).toBe(true);

    // Metrics: a sample per refresh, drawn as SVG.
    const cpu = page.locator("#metrics svg.plot.cpu");
    await expect
      .poll(async () => Number(await cpu.getAttribute("data-samples")), WAIT)
      .toBeGreaterThanOrEqual(2);
    expect(await page.locator("#metrics svg.plot.mem polyline").count()).toBe(1);

    // The audit log has the sandbox's story, newest first.
    const actions = await page.locator("#audit-rows tr td:nth-child(2)").allTextContents();
    expect(actions).toEqual(
      expect.arrayContaining(["sandbox.create", "sandbox.pause", "sandbox.resume"]),
    );
    expect(actions.indexOf("sandbox.resume")).toBeLessThan(actions.indexOf("sandbox.create"));
    await shot("sandbox-detail");
    noProblems();
  });

  it("shows the hosts", async () => {
    await page.getByRole("link", { name: "Hosts", exact: true }).click();
    await page.waitForURL(`${stack.url}/admin/hosts`);
    await expect.poll(() => page.locator("#host-table").textContent()).toContain("online");
    expect(await page.getByRole("meter").count()).toBeGreaterThanOrEqual(3);
    await shot("hosts");
    noProblems();
  });

  it("creates a key (shown once) and revokes it", async () => {
    await page.getByRole("link", { name: "API keys", exact: true }).click();
    await page.waitForURL(`${stack.url}/admin/api-keys`);
    await page.getByLabel("Name").fill("made-in-ui");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = page.getByLabel("The new API key", { exact: true });
    await secret.waitFor(WAIT);
    const key = await secret.inputValue();
    expect(key).toMatch(/^wrn_/);
    const works = await stack.call("GET", "/v1/sandboxes", { key });
    expect(works.status).toBe(200);
    const keyRow = page.locator("#key-rows tr", { hasText: "made-in-ui" });
    await keyRow.waitFor(WAIT);
    await shot("api-keys");

    await keyRow.getByRole("button", { name: /^Revoke made-in-ui/ }).click();
    await expect.poll(() => keyRow.textContent(), WAIT).toContain("revoked");
    const refused = await stack.call("GET", "/v1/sandboxes", { key });
    expect(refused.status).toBe(401);
    // Reloaded, the page shows no secret any more.
    await page.reload();
    expect(await page.getByLabel("The new API key", { exact: true }).count()).toBe(0);
    noProblems();
  });

  it("destroys the sandbox from the list", async () => {
    await page.getByRole("link", { name: "Sandboxes", exact: true }).first().click();
    await page.waitForURL(`${stack.url}/admin/sandboxes`);
    await row().waitFor(WAIT);
    await page.getByRole("button", { name: `Destroy ${sandboxId}` }).click();
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("stopped");
    const gone = await stack.call("GET", `/v1/sandboxes/${sandboxId}`, { key: user.key });
    expect(gone.status === 404 || (gone.body as { state?: string }).state === "stopped").toBe(true);
    // The next refresh drops it from the live list.
    await row().waitFor({ state: "detached", ...WAIT });
    await shot("sandboxes-after-destroy");
    noProblems();
  });

  it("refuses a forged POST without the CSRF token", async () => {
    const status = await page.evaluate(async (id) => {
      const r = await fetch(`/admin/sandboxes/${id}/pause`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "view=row",
      });
      return r.status;
    }, sandboxId);
    expect(status).toBe(403);
    // The browser logs the refused request; that one is expected.
    const refusal = problems.findIndex((p) => p.includes("status of 403"));
    if (refusal >= 0) problems.splice(refusal, 1);
    // From another site, with the right path, the cookie is not even sent (SameSite=Strict);
    // without any cookie the answer is 401.
    const bare = await fetch(`${stack.url}/admin/api-keys`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "name=x&role=admin&ownerId=",
    });
    expect(bare.status).toBe(401);

    // With the session cookie and the right token, but from another origin: refused too, for
    // actions and for the terminal socket.
    const session = (await context.cookies()).find((c) => c.name === "wrenn_admin_session");
    const headers = JSON.parse((await page.locator("body").getAttribute("hx-headers")) ?? "{}");
    const post = (origin: string) =>
      fetch(`${stack.url}/admin/sandboxes/${sandboxId}/pause`, {
        method: "POST",
        headers: {
          cookie: `wrenn_admin_session=${session?.value}`,
          origin,
          "x-csrf-token": headers["X-CSRF-Token"],
          "content-type": "application/x-www-form-urlencoded",
        },
        body: "view=row",
      });
    expect((await post("http://evil.example")).status).toBe(403);
    // The same request from the admin's own origin gets past the checks (and finds the
    // destroyed sandbox gone).
    expect((await post(stack.url)).status).toBe(404);
    const socketStatus = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(
        `${stack.url.replace("http", "ws")}/admin/sandboxes/${sandboxId}/terminal`,
        {
          headers: {
            cookie: `wrenn_admin_session=${session?.value}`,
            origin: "http://evil.example",
          },
        },
      );
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("a foreign origin opened the terminal")));
      ws.on("error", () => {});
    });
    expect(socketStatus).toBe(403);
    noProblems();
  });

  it("logs out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/admin\/login\?reason=logged_out/);
    expect(await page.locator("p.note").textContent()).toContain("Logged out");
    await page.goto(`${stack.url}/admin/hosts`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    noProblems();
  });
});
