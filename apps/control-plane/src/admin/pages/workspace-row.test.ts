import { checkWorkspaceCreate } from "@wrenn/contract";
import { expect, test } from "vitest";
import { ServiceError } from "../../service/errors.js";
import type { Principal } from "../../service/sandbox-types.js";
import type { OwnedWorkspaceView } from "../../workspaces/workspace-service.js";
import { actingWithin } from "./workspace-action-routes.js";
import { workspaceFieldOf, workspaceInput } from "./workspace-create.js";
import { workspaceRow } from "./workspace-row.js";

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

test("a running workspace offers suspend and destroy (which asks first), a suspended one resume", () => {
  const running = workspaceRow(base, "alice").toString();
  expect(running).toContain('id="ws-own-0000000a-devbox"');
  expect(running).toContain('hx-post="/admin/workspaces/own-0000000a/devbox/suspend"');
  expect(running).toContain('aria-label="Suspend workspace devbox of own-0000000a"');
  expect(running).toContain('data-busy="suspending" data-busy-for="ws-own-0000000a-devbox"');
  expect(running).not.toContain("/resume");
  expect(running).toContain('hx-post="/admin/workspaces/own-0000000a/devbox/destroy"');
  expect(running).toContain('hx-confirm="Destroy workspace devbox?');
  const suspended = workspaceRow({ ...base, state: "suspended" }, "alice").toString();
  expect(suspended).toContain("/devbox/resume");
  expect(suspended).not.toContain("/suspend");
});

test("the create form's fields go to the service as entered, and its messages find their field", () => {
  const input = workspaceInput({
    name: " devbox ",
    image: "",
    vcpus: "1",
    memoryMb: "",
    diskGb: "x",
  });
  expect(input).toEqual({
    name: "devbox",
    image: undefined,
    vcpus: 1,
    memoryMb: undefined,
    diskGb: Number.NaN,
  });
  // The contract's own rules and words: the same as POST /v1/workspaces answers.
  const message = (v: Parameters<typeof workspaceInput>[0]) => {
    try {
      checkWorkspaceCreate(workspaceInput(v));
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error("accepted");
  };
  expect(workspaceFieldOf(message({ name: "devbox", diskGb: "100000" }))).toBe("diskGb");
  expect(workspaceFieldOf(message({ name: "devbox", memoryMb: "1" }))).toBe("memoryMb");
  expect(workspaceFieldOf(message({ name: "devbox", vcpus: "1.5" }))).toBe("vcpus");
  expect(workspaceFieldOf(message({ name: "Dev Box" }))).toBe("name");
  expect(workspaceFieldOf(message({ name: "devbox", image: "../x" }))).toBe("image");
});

test("an admin session acts within any owner; any other caller only within its own", () => {
  const admin: Principal = {
    keyId: "key-1",
    ownerId: "own-00000001",
    role: "admin",
    name: "ops",
    reach: "all-owners",
  };
  expect(actingWithin(admin, "own-0000000a", "devbox")).toEqual({
    ...admin,
    ownerId: "own-0000000a",
  });
  const { reach: _, ...ownOnly } = admin;
  expect(actingWithin(ownOnly, "own-00000001", "devbox").ownerId).toBe("own-00000001");
  expect(() => actingWithin(ownOnly, "own-0000000a", "devbox")).toThrow(/devbox/);
  expect(() => actingWithin({ ...admin, role: "user" }, "own-0000000a", "devbox")).toThrow(
    ServiceError,
  );
});
