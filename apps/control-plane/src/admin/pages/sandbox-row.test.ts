import { expect, test } from "vitest";
import type { Sandbox } from "../../service/sandbox-types.js";
import { sandboxRow } from "./sandbox-row.js";

const base: Sandbox = {
  id: "sb-0000000a",
  name: null,
  stopReason: null,
  ownerId: "owner",
  apiKeyId: "key",
  template: "base",
  state: "error",
  resources: { vcpus: 1, memoryMb: 256, diskMb: 2048 },
  metadata: {},
  envVarNames: [],
  allowInternet: false,
  network: { allowOut: [], denyOut: [] },
  autoPause: false,
  autoResume: false,
  timeoutSeconds: 300,
  envdVersion: null,
  hostId: "host-00000001",
  startedAt: new Date(0),
  endAt: new Date(0),
  stateChangedAt: new Date(0),
  createdAt: new Date(0),
  stoppedAt: null,
  error: "the sandbox ran out of memory and its runtime was killed",
  errorReason: "oom",
};

test("the sandbox list shows why a sandbox is in error, with the message on hover", () => {
  const row = sandboxRow(base, "alice").toString();
  expect(row).toContain(">oom</span>");
  expect(row).toContain('title="the sandbox ran out of memory and its runtime was killed"');
  expect(
    sandboxRow({ ...base, state: "running", errorReason: null }, "alice").toString(),
  ).not.toContain("oom");
});

test("the sandbox list shows a sandbox's name beside its id", () => {
  const row = sandboxRow({ ...base, state: "running", name: "web-1" }, "alice").toString();
  expect(row).toMatch(/sb-0000000a<\/a>.*sandbox-name">web-1<\/span>/s);
  expect(sandboxRow(base, "alice").toString()).not.toContain("sandbox-name");
});
