// The admin UI's Workspaces page, as admin-ui.test.ts visits it on its stack (logged in as the
// admin): the empty state, then a user's workspace made through /v1 with everything its row
// says checked against /v1's own answer and its link to its sandbox; the admin suspends,
// resumes and destroys it (another owner's) from its row. Then the New workspace form: the
// contract's size rule shown beside the field, nothing created, and one made for the admin,
// running, destroyed; the empty state again. One workspace at a time.
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { Stack, UserKey } from "../e2e-stack/stack.js";
import { WAIT, watchStatesScript } from "./admin-page-checks.js";

export async function checkWorkspacesPage(o: {
  page: Page;
  stack: Stack;
  user: UserKey;
  shot: (name: string) => Promise<void>;
}): Promise<void> {
  const { page, stack, user, shot } = o;
  await page.getByRole("link", { name: "Workspaces", exact: true }).click();
  await page.waitForURL(`${stack.url}/admin/workspaces`);
  const rows = page.locator("#workspace-rows");
  expect(await rows.textContent()).toContain("No workspaces yet");
  await shot("workspaces-empty");

  // One of the user's, made through /v1: the admin sees it without being its owner.
  const created = await stack.call("POST", "/v1/workspaces", {
    key: user.key,
    body: { name: "ui-box", vcpus: 1, memoryMb: 512, diskGb: 2 },
  });
  expect(created.status, created.text).toBe(201);
  const ws = (await stack.call("GET", "/v1/workspaces/ui-box", { key: user.key })).body as {
    sandboxId: string;
    hostPort: number;
    state: string;
    createdAt: string;
  };
  expect(ws.hostPort).toBeGreaterThan(0);
  const box = page.locator('#workspace-rows tr[data-workspace="ui-box"]');
  // The table refreshes itself every 5 seconds.
  await box.waitFor(WAIT);
  await expect.poll(() => box.getAttribute("data-state"), WAIT).toBe("running");
  expect(await box.getAttribute("data-owner")).toBe(user.ownerId);
  const cells = (await box.locator("td").allTextContents()).map((c) => c.trim());
  expect(cells[0]).toBe("ui-boxbase");
  expect(cells[1]).toContain("ui-user");
  expect(cells[1]).toContain(user.ownerId);
  expect(cells[2]).toBe("running");
  expect(cells.slice(3, 7)).toEqual(["1", "512 MiB", "2 GiB", String(ws.hostPort)]);
  expect(cells[7]).toBe(ws.sandboxId);
  expect(await box.locator("time").getAttribute("datetime")).toBe(
    new Date(ws.createdAt).toISOString(),
  );
  await shot("workspaces");

  // Its sandbox link opens that sandbox's page.
  await box.getByRole("link", { name: ws.sandboxId }).click();
  await page.waitForURL(`${stack.url}/admin/sandboxes/${ws.sandboxId}`);
  await expect.poll(() => page.locator("#summary").getAttribute("data-state")).toBe("running");

  // Suspend, resume and destroy from its row, though the admin is not its owner.
  await page.goto(`${stack.url}/admin/workspaces`);
  const rowId = `ws-${user.ownerId}-ui-box`;
  await page.evaluate(watchStatesScript(rowId));
  const state = async () => {
    const r = await stack.call("GET", "/v1/workspaces/ui-box", { key: user.key });
    return (r.body as { state: string }).state;
  };
  await box.getByRole("button", { name: `Suspend workspace ui-box of ${user.ownerId}` }).click();
  await expect.poll(() => box.getAttribute("data-state"), WAIT).toBe("suspended");
  expect(await page.evaluate("window.seenStates")).toEqual(["running", "suspending", "suspended"]);
  expect(await state()).toBe("suspended");
  await shot("workspaces-suspended");
  await box.getByRole("button", { name: `Resume workspace ui-box of ${user.ownerId}` }).click();
  await expect.poll(() => box.getAttribute("data-state"), WAIT).toBe("running");
  expect(await state()).toBe("running");
  // Destroy asks first (admin-ui.test.ts says yes to every dialog).
  await box.getByRole("button", { name: `Destroy workspace ui-box of ${user.ownerId}` }).click();
  await expect.poll(() => box.getAttribute("data-state"), WAIT).toBe("destroyed");
  const gone = await stack.call("GET", "/v1/workspaces/ui-box", { key: user.key });
  expect(gone.status).toBe(404);
  // Its sandbox's audit trail has the pause, resume and destroy, by the admin's key.
  await page.goto(`${stack.url}/admin/sandboxes/${ws.sandboxId}`);
  const trail = await Promise.all(
    (await page.locator("#audit-rows tr").all()).map((r) => r.locator("td").allTextContents()),
  );
  for (const action of ["sandbox.pause", "sandbox.resume", "sandbox.destroy"]) {
    const by = trail.filter((cells) => cells[1]?.trim() === action).map((c) => c[2]?.trim());
    expect(by, action).toHaveLength(1);
    expect(by[0], action).not.toBe(user.id);
  }
  await page.goto(`${stack.url}/admin/workspaces`);

  // The New workspace form, for the admin's own owner.
  const mine = async () => {
    const r = await stack.call("GET", "/v1/workspaces");
    return (r.body as { workspaces: { name: string }[] }).workspaces.map((w) => w.name);
  };
  await page.getByRole("link", { name: "New workspace" }).click();
  await page.waitForURL(`${stack.url}/admin/workspaces/new`);
  await page.getByLabel("Name").fill("ui-made");
  await page.getByLabel("vCPUs").fill("1");
  await page.getByLabel("Memory (MiB)").fill("512");
  await page.getByLabel("Disk (GiB)").fill("100000");
  const submit = page.getByRole("button", { name: "Create workspace" });
  await submit.click();
  const error = page.locator("#create-error");
  await expect.poll(() => error.textContent(), WAIT).toContain("disk_gb must be an integer from 1");
  expect(await page.getByLabel("Disk (GiB)").getAttribute("aria-invalid")).toBe("true");
  expect(await page.getByLabel("Name").inputValue()).toBe("ui-made");
  await shot("workspace-new-error");
  expect(await mine()).toEqual([]);

  await page.getByLabel("Disk (GiB)").fill("2");
  await submit.click();
  // In the form's place, once: the client config in wg-quick's format, for this workspace's
  // endpoint, with a private key the host does not keep.
  const config = page.locator("#wg-config");
  await config.waitFor({ timeout: 120_000 });
  const text = (await config.textContent()) ?? "";
  const made1 = (await stack.call("GET", "/v1/workspaces/ui-made")).body as { hostPort: number };
  expect(text).toContain("[Interface]");
  expect(text).toMatch(/^PrivateKey = [A-Za-z0-9+/]{43}=$/m);
  expect(text).toMatch(/^PublicKey = [A-Za-z0-9+/]{43}=$/m);
  expect(text).toContain(`Endpoint = 127.0.0.1:${made1.hostPort}`);
  expect(text).toContain("AllowedIPs = 10.10.0.2/32");
  const privateKey = /^PrivateKey = (\S+)$/m.exec(text)?.[1] ?? "";
  const stored = await stack.cp.db.query("SELECT * FROM workspaces");
  expect(JSON.stringify(stored.rows)).not.toContain(privateKey);
  await shot("workspace-created-config");
  await page.getByRole("link", { name: "Go to workspaces" }).click();
  await page.waitForURL(`${stack.url}/admin/workspaces`, { timeout: 60_000 });
  const made = page.locator('#workspace-rows tr[data-workspace="ui-made"]');
  await expect.poll(() => made.getAttribute("data-state"), WAIT).toBe("running");
  const adminOwner = (await stack.call("GET", "/v1/workspaces/ui-made")).body as {
    vcpus: number;
    memoryMb: number;
    diskGb: number;
  };
  expect(adminOwner).toMatchObject({ vcpus: 1, memoryMb: 512, diskGb: 2 });
  expect(await mine()).toEqual(["ui-made"]);
  await made.getByRole("button", { name: /^Destroy workspace ui-made of / }).click();
  await expect.poll(() => made.getAttribute("data-state"), WAIT).toBe("destroyed");
  expect(await mine()).toEqual([]);

  await page.goto(`${stack.url}/admin/workspaces`);
  expect(await page.locator("#workspace-rows").textContent()).toContain("No workspaces yet");
}
