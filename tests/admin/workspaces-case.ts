// The admin UI's Workspaces page, as admin-ui.test.ts visits it on its stack (logged in as the
// admin): the empty state, then a user's workspace made through /v1 with everything its row
// says checked against /v1's own answer, its link to its sandbox, and the empty state again
// once it is destroyed.
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { Stack, UserKey } from "../e2e-stack/stack.js";
import { WAIT } from "./admin-page-checks.js";

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

  const gone = await stack.call("DELETE", "/v1/workspaces/ui-box", { key: user.key });
  expect(gone.status, gone.text).toBe(204);
  await page.goto(`${stack.url}/admin/workspaces`);
  expect(await page.locator("#workspace-rows").textContent()).toContain("No workspaces yet");
}
