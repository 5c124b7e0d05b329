// The admin UI's templates page, as admin-ui.test.ts visits it on its stack (logged in as the
// admin): a user's template built through /v1 from an image in a loopback registry is listed
// with its owner and size, its build log opens, a delete while a sandbox uses it is refused
// with that sandbox named in the flash area, and once the sandbox is gone the delete works.
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { Stack, UserKey } from "../e2e-stack/stack.js";
import { busyboxOnly, LoopbackRegistry } from "../template/oci-registry.js";
import { WAIT } from "./admin-page-checks.js";

export async function checkTemplatesPage(o: {
  page: Page;
  stack: Stack;
  user: UserKey;
  shot: (name: string) => Promise<void>;
  /** Console lines the browser logs for the refused delete; they are expected. */
  forgive: (text: string) => void;
}): Promise<void> {
  const { page, stack, user, shot } = o;
  const registry = await LoopbackRegistry.start();
  try {
    const image = await registry.push("ui-tiny:1", (r) => busyboxOnly(r), { env: ["PATH=/bin"] });
    const started = await stack.call("POST", "/v1/templates", {
      key: user.key,
      body: { name: "ui-tpl:1", fromImage: image },
    });
    expect(started.status, started.text).toBe(202);
    await expect
      .poll(
        async () =>
          (
            (await stack.call("GET", "/v1/templates/ui-tpl:1", { key: user.key })).body as {
              status: string;
            }
          ).status,
        { timeout: 180_000, interval: 500 },
      )
      .toBe("ready");
    const t = (await stack.call("GET", "/v1/templates/ui-tpl:1", { key: user.key })).body as {
      sizeMB: number;
    };

    await page.getByRole("link", { name: "Templates", exact: true }).click();
    await page.waitForURL(`${stack.url}/admin/templates`);
    const row = page.locator('#owner-template-rows tr[data-template="ui-tpl:1"]');
    await row.waitFor(WAIT);
    expect(await row.getAttribute("data-owner")).toBe(user.ownerId);
    expect(await row.getAttribute("data-status")).toBe("ready");
    const cells = (await row.locator("td").allTextContents()).map((c) => c.trim());
    expect(cells[0]).toBe(`ui-tpl:1${image}`);
    expect(cells[1]).toContain("ui-user");
    expect(cells[3]).toBe(`${t.sizeMB} MiB`);
    await shot("templates-built");

    await row.getByRole("link", { name: "Build log" }).click();
    await page.waitForURL(/\/admin\/templates\/.+\/logs$/);
    expect(await page.locator("#build-log tbody tr").count()).toBeGreaterThan(0);
    expect(await page.locator("#build-log").textContent()).toContain("pull");
    await shot("template-build-log");
    await page.getByRole("link", { name: "Back to the templates" }).click();
    await page.waitForURL(`${stack.url}/admin/templates`);

    // In use: refused, the sandbox named, the row still there.
    const sandbox = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { template: "ui-tpl:1" },
    });
    expect(sandbox.status, sandbox.text).toBe(201);
    const sandboxId = (sandbox.body as { id: string }).id;
    await row.getByRole("button", { name: /^Delete template ui-tpl:1/ }).click();
    await expect.poll(() => page.locator("#flash").textContent(), WAIT).toContain(sandboxId);
    expect(await page.locator("#flash").textContent()).toContain("is used by sandboxes");
    expect(await row.getAttribute("data-status")).toBe("ready");
    o.forgive("status of 409");
    o.forgive("Response Status Error Code 409");

    const gone = await stack.call("DELETE", `/v1/sandboxes/${sandboxId}`, { key: user.key });
    expect(gone.status, gone.text).toBe(204);
    await row.getByRole("button", { name: /^Delete template ui-tpl:1/ }).click();
    await page.locator('#owner-template-rows tr[data-status="deleted"]').waitFor(WAIT);
    expect((await stack.call("GET", "/v1/templates/ui-tpl:1", { key: user.key })).status).toBe(404);
  } finally {
    await registry.stop();
  }
}
