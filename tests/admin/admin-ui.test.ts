// The admin UI in a real headless Chromium against the real stack (control plane, host agent,
// gVisor sandboxes): log in, watch a sandbox appear, search, pause and resume it (seeing the
// states in between), create one from the form, open a terminal on request, read the metrics
// the control plane kept while no page was open, see why a paused or failed sandbox has no
// terminal, list templates and workspaces, manage keys, destroy, log out. Every page must
// render without console errors and without overflowing a 390 px wide screen; each page's
// screenshot, wide and narrow, lands in artifacts/admin/ to be looked at.
import { mkdir } from "node:fs/promises";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import {
  ARTIFACTS,
  CHROMIUM_ARGS,
  shot as shotPage,
  WAIT,
  WIDE,
  watchStatesScript,
} from "./admin-page-checks.js";
import { checkTemplatesPage } from "./templates-case.js";
import { checkWorkspacesPage } from "./workspaces-case.js";

describe("admin UI in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let user: UserKey;
  let sandboxId: string;
  /** When sandboxId last started running: the metrics sampler has sampled it since. */
  let runningSince = 0;
  /** The sandbox created with the form. */
  let formSandboxId: string;
  /** WebSockets the page opened. */
  const sockets: string[] = [];
  /** Console errors, uncaught exceptions and requests that left loopback, per page. */
  const problems: string[] = [];

  /** Saves the page for a human to look at, after checking every control has a name. */
  const shot = (name: string) => shotPage(page, name);
  /** Records every data-state the element with this id shows from now on (it may be replaced). */
  const watchStates = (id: string) => page.evaluate(watchStatesScript(id));
  const seenStates = () => page.evaluate("window.seenStates") as Promise<string[]>;
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
    context = await browser.newContext({ viewport: WIDE });
    // Traffic only to loopback: anything else is a failure, not a request.
    await context.route(/.*/, (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === "127.0.0.1" || host === "localhost") return route.continue();
      problems.push(`request off loopback: ${route.request().url()}`);
      return route.abort();
    });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && !deliberateAbort(m.text())) {
        problems.push(`console: ${m.text()} (${page.url()})`);
      }
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message} (${page.url()})`));
    page.on("websocket", (ws) => sockets.push(ws.url()));
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

  it("shows a sandbox created through the API without a reload, searches, and shows pausing and resuming", async () => {
    await page.goto(`${stack.url}/admin/sandboxes`);
    await page.locator("#sandbox-rows").waitFor(WAIT);
    const created = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { metadata: { project: "wren-ui", tier: "gold" } },
    });
    expect(created.status, created.text).toBe(201);
    sandboxId = (created.body as { id: string }).id;

    // The list refreshes itself every 3 seconds.
    await row().waitFor(WAIT);
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("running");
    expect(await row().textContent()).toContain("ui-user");
    // The metadata column.
    expect(await row().locator("td.metadata .tag").allTextContents()).toEqual([
      "project=wren-ui",
      "tier=gold",
    ]);
    await shot("sandboxes");

    // Pausing and resuming show while they happen, then the row shows where it ended up.
    await watchStates(`row-${sandboxId}`);
    await page.getByRole("button", { name: `Pause ${sandboxId}` }).click();
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("paused");
    expect(await seenStates()).toEqual(["running", "pausing", "paused"]);
    const paused = await stack.call("GET", `/v1/sandboxes/${sandboxId}`, { key: user.key });
    expect((paused.body as { state: string }).state).toBe("paused");

    await watchStates(`row-${sandboxId}`);
    await page.getByRole("button", { name: `Resume ${sandboxId}` }).click();
    await expect.poll(() => row().getAttribute("data-state"), WAIT).toBe("running");
    expect(await seenStates()).toEqual(["paused", "resuming", "running"]);
    runningSince = Date.now();

    // Search: by metadata key=value, by part of the id, by template; and nothing for a miss.
    const search = page.getByLabel("Search");
    for (const term of ["tier=gold", sandboxId.slice(0, 7), "wren-ui", "base"]) {
      await search.fill(term);
      await page.waitForURL(new RegExp(`q=${encodeURIComponent(term)}`));
      await row().waitFor(WAIT);
    }
    await search.fill("tier=silver");
    await row().waitFor({ state: "detached", ...WAIT });
    await expect.poll(() => page.locator("#sandbox-rows").textContent()).toContain("No sandboxes");
    await search.fill("");
    await row().waitFor(WAIT);

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

  it("creates a sandbox from the form, with the service's messages beside the fields", async () => {
    const count = async () => {
      const r = await stack.call("GET", "/v1/sandboxes?limit=1000");
      return (r.body as { sandboxes: unknown[] }).sandboxes.length;
    };
    const before = await count();
    await page.getByRole("link", { name: "New sandbox" }).click();
    await page.waitForURL(`${stack.url}/admin/sandboxes/new`);
    await shot("sandbox-new");

    const submit = page.getByRole("button", { name: "Create sandbox" });
    const error = page.locator("#create-error");
    // A template no host has: the scheduler's words, beside the template field.
    await page.getByLabel("Template").fill("no-such-template");
    await submit.click();
    await expect.poll(() => error.textContent(), WAIT).toContain("no-such-template does not exist");
    expect(await page.getByLabel("Template").getAttribute("aria-invalid")).toBe("true");
    // Entered values survive the round trip.
    expect(await page.getByLabel("Template").inputValue()).toBe("no-such-template");

    await page.getByLabel("Template").fill("base");
    await page.getByLabel("vCPUs").fill("0");
    await submit.click();
    await expect.poll(() => error.textContent(), WAIT).toContain("vcpus must be an integer");
    expect(await page.getByLabel("vCPUs").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("Template").getAttribute("aria-invalid")).toBeNull();
    await shot("sandbox-new-error");

    await page.getByLabel("vCPUs").fill("1");
    await page.getByLabel("Metadata").fill("team=infra\nno equals sign");
    await submit.click();
    await expect.poll(() => error.textContent(), WAIT).toContain("metadata line 2");
    expect(await page.getByLabel("Metadata").getAttribute("aria-invalid")).toBe("true");
    // None of these created anything.
    expect(await count()).toBe(before);

    await page.getByLabel("Memory (MiB)").fill("512");
    await page.getByLabel("Disk (MiB)").fill("2048");
    await page.getByLabel("Timeout (s)").fill("900");
    await page.getByLabel("Metadata").fill("team=infra\npurpose=made in the UI");
    await submit.click();
    await page.waitForURL(/\/admin\/sandboxes\/sb-[0-9a-f]{8}$/, { timeout: 120_000 });
    formSandboxId = new URL(page.url()).pathname.split("/").pop()!;
    const made = await stack.call("GET", `/v1/sandboxes/${formSandboxId}`);
    expect(made.status).toBe(200);
    const body = made.body as {
      state: string;
      template: string;
      timeoutSeconds: number;
      resources: { vcpus: number; memoryMb: number; diskMb: number };
      metadata: Record<string, string>;
    };
    expect(body.state).toBe("running");
    expect(body.template).toBe("base");
    expect(body.timeoutSeconds).toBe(900);
    expect(body.resources).toEqual({ vcpus: 1, memoryMb: 512, diskMb: 2048 });
    expect(body.metadata).toEqual({ team: "infra", purpose: "made in the UI" });
    // The audit log names the admin's key, as for any other create.
    const audit = await page.locator("#audit-rows tr td:nth-child(2)").allTextContents();
    expect(audit).toContain("sandbox.create");
    noProblems();
  });

  it("opens a terminal only when asked", async () => {
    // On the detail page of the sandbox made with the form.
    await expect.poll(() => page.locator("#summary").getAttribute("data-state")).toBe("running");
    const terminal = page.locator("#terminal");
    const open = page.getByRole("button", { name: `Open a terminal in ${formSandboxId}` });
    await open.waitFor(WAIT);
    // A summary refresh goes by, and still no socket was opened.
    await page.waitForRequest(/\/summary$/, WAIT);
    expect(sockets.filter((u) => u.includes("/terminal"))).toEqual([]);
    expect(await terminal.isHidden()).toBe(true);
    await shot("sandbox-detail-closed-terminal");

    await open.click();
    await expect
      .poll(() => terminal.getAttribute("data-connected"), { timeout: 60_000 })
      .toBe("true");
    expect(
      sockets.filter((u) => u.includes(`/admin/sandboxes/${formSandboxId}/terminal`)),
    ).toHaveLength(1);
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
    expect(await open.isHidden()).toBe(true);
    await shot("sandbox-detail-terminal");
    noProblems();
  });

  it("shows the metrics the control plane kept while no page was open", async () => {
    // The sampler takes one every 10 s whether anyone looks or not; give it three chances
    // since the resume (this waits; it asserts nothing about time).
    const wait = runningSince + 35_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Opened once, not reloaded: a page that sampled on each view would show one sample.
    await page.goto(`${stack.url}/admin/sandboxes/${sandboxId}`);
    const cpu = page.locator("#metrics svg.plot.cpu");
    expect(Number(await cpu.getAttribute("data-samples"))).toBeGreaterThanOrEqual(2);
    expect(await page.locator("#metrics svg.plot.mem polyline").count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator("#metrics .chart-empty").count()).toBe(0);

    // The audit log has the sandbox's story, newest first.
    const actions = await page.locator("#audit-rows tr td:nth-child(2)").allTextContents();
    expect(actions).toEqual(
      expect.arrayContaining(["sandbox.create", "sandbox.pause", "sandbox.resume"]),
    );
    expect(actions.indexOf("sandbox.resume")).toBeLessThan(actions.indexOf("sandbox.create"));
    await shot("sandbox-detail");
    noProblems();
  });

  it("shows a paused sandbox without a terminal, says why and offers to resume", async () => {
    // Connected first, so the pause has a live terminal to take away.
    await page.getByRole("button", { name: `Open a terminal in ${sandboxId}` }).click();
    const terminal = page.locator("#terminal");
    await expect
      .poll(() => terminal.getAttribute("data-connected"), { timeout: 60_000 })
      .toBe("true");

    await watchStates("summary");
    await page.getByRole("button", { name: `Pause ${sandboxId}`, exact: true }).click();
    await expect
      .poll(() => page.locator("#summary").getAttribute("data-state"), WAIT)
      .toBe("paused");
    expect(await seenStates()).toEqual(["running", "pausing", "paused"]);
    const gate = page.locator("#terminal-gate");
    await expect.poll(() => gate.textContent(), WAIT).toContain("is paused");
    await expect.poll(() => terminal.isHidden(), WAIT).toBe(true);
    expect(
      await page.getByRole("button", { name: `Open a terminal in ${sandboxId}` }).isHidden(),
    ).toBe(true);
    // Its past samples stay; no new ones while paused.
    expect(
      Number(await page.locator("#metrics svg.plot.cpu").getAttribute("data-samples")),
    ).toBeGreaterThanOrEqual(2);
    await shot("sandbox-detail-paused");

    await gate.getByRole("button", { name: `Resume ${sandboxId} to open a terminal` }).click();
    await expect
      .poll(() => page.locator("#summary").getAttribute("data-state"), WAIT)
      .toBe("running");
    await page.getByRole("button", { name: /^(Open a terminal|Reconnect)/ }).waitFor(WAIT);
    expect(await gate.textContent()).toBe("");
    noProblems();
  });

  it("shows a failed sandbox without a terminal, saying why", async () => {
    // A sandbox that dies of memory exhaustion: the host notices and records error/oom. (A
    // create the agent refuses leaves no row at all, so it cannot stand in for a failure.)
    const created = await stack.call("POST", "/v1/sandboxes", {
      body: { resources: { memoryMb: 256 }, metadata: { case: "failed" } },
    });
    expect(created.status, created.text).toBe(201);
    const failedId = (created.body as { id: string }).id;
    await stack
      .call("POST", `/v1/sandboxes/${failedId}/exec`, {
        body: {
          command: "node -e 'const a = []; for (;;) a.push(Buffer.alloc(32 << 20, 1))'",
          timeoutSeconds: 300,
        },
      })
      .catch(() => undefined);
    await expect
      .poll(
        async () =>
          ((await stack.call("GET", `/v1/sandboxes/${failedId}`)).body as { state: string }).state,
        { timeout: 120_000 },
      )
      .toBe("error");
    await page.goto(`${stack.url}/admin/sandboxes/${failedId}`);
    expect(await page.locator("#summary").getAttribute("data-state")).toBe("error");
    expect(await page.locator("#terminal-gate").textContent()).toContain(
      "failed, so there is no shell",
    );
    expect(await page.locator("#terminal-gate").textContent()).toContain("memory");
    expect(await page.getByRole("button", { name: /Open a terminal|Resume/ }).count()).toBe(0);
    // Its metrics are what was kept while it ran (the empty chart is covered by
    // metrics-history.test.ts).
    await shot("sandbox-detail-error");
    noProblems();
  });

  it("lists the templates the host has", async () => {
    await page.getByRole("link", { name: "Templates", exact: true }).click();
    await page.waitForURL(`${stack.url}/admin/templates`);
    const base = page.locator("#template-list tbody tr", { hasText: "base" });
    await base.waitFor(WAIT);
    const cells = await base.locator("td").allTextContents();
    expect(cells[0]).toBe("base");
    expect(cells[1]).toMatch(/^[0-9a-f]{12}$/);
    expect(cells[2]).toMatch(/\d (B|KiB|MiB|GiB)$/);
    expect(cells[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await shot("templates");
    noProblems();
  });

  it("lists a user's built template, opens its build log, and deletes it once no sandbox uses it", async () => {
    const forgive = (text: string) => {
      for (let i = problems.length - 1; i >= 0; i--) {
        if (problems[i]!.includes(text)) problems.splice(i, 1);
      }
    };
    await checkTemplatesPage({ page, stack, user, shot, forgive });
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

  it("lists every owner's workspaces, empty first, each linked to its sandbox", async () => {
    await checkWorkspacesPage({ page, stack, user, shot });
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
    const createStatus = await page.evaluate(async () => {
      const r = await fetch("/admin/sandboxes", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "template=base",
      });
      return r.status;
    });
    expect(createStatus).toBe(403);
    // The browser logs the refused requests; those are expected.
    for (let i = problems.length - 1; i >= 0; i--) {
      if (problems[i]!.includes("status of 403")) problems.splice(i, 1);
    }
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

/**
 * htmx logs an aborted request as two console errors: "htmx:afterRequest" (which it logs before
 * every failure's own error) and "htmx:sendAbort". A row's action aborts a list refresh in
 * flight on purpose (hx-sync), so neither is a problem; a failed send ("htmx:sendError") or a
 * timeout still is.
 */
function deliberateAbort(text: string): boolean {
  return /^htmx:(afterRequest|sendAbort)\b/.test(text);
}
