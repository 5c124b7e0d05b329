import { expect, test } from "vitest";
import type { OwnedWorkspaceView } from "../../workspaces/workspace-service.js";
import { workspaceRow } from "./workspaces-page.js";

const base: OwnedWorkspaceView = {
  name: "devbox",
  ownerId: "own-0000000a",
  state: "running",
  image: "base",
  vcpus: 2,
  memoryMb: 2048,
  diskGb: 10,
  hostPort: 51820,
  vmIp: "10.0.0.2",
  sandboxId: "sb-0000000b",
  sshHostKey: "",
  createdAt: new Date("2026-12-01T10:00:00Z"),
};

test("a workspace row shows its settings, owner, port and a link to its sandbox", () => {
  const row = workspaceRow(base, "alice", Date.parse("2026-12-01T10:05:00Z")).toString();
  expect(row).toContain('data-state="running"');
  expect(row).toContain('<span class="state state-running">running</span>');
  expect(row).toContain("<span>alice</span>");
  expect(row).toContain("own-0000000a");
  expect(row).toContain(">2 GiB<");
  expect(row).toContain(">10 GiB<");
  expect(row).toContain(">51820<");
  expect(row).toContain('href="/admin/sandboxes/sb-0000000b"');
  expect(row).toContain('datetime="2026-12-01T10:00:00.000Z"');
  expect(row).toContain("5m ago");
});

test("a workspace with no port or no sandbox yet shows dashes, and its name is escaped", () => {
  const row = workspaceRow(
    { ...base, name: "<b>x</b>", state: "created", hostPort: 0, sandboxId: "" },
    undefined,
  ).toString();
  expect(row).not.toContain("<b>x</b>");
  expect(row).toContain("&lt;b&gt;x&lt;/b&gt;");
  expect(row).toContain("no WireGuard endpoint open");
  expect(row).not.toContain("/admin/sandboxes/");
  expect(row).toContain("state-created");
});
