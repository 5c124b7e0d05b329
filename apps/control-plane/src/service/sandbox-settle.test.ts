import { expect, test } from "vitest";
import type { AgentSandbox, AgentSandboxState } from "../hosts/host-client.js";
import { settle } from "./sandbox-settle.js";
import type { SandboxState } from "./sandbox-types.js";

const agent = (state: AgentSandboxState): AgentSandbox => ({
  id: "sb-00000001",
  template: "base",
  state,
  envdVersion: "0.6.13",
  error: state === "error" ? "boom" : "",
});

test.each<[SandboxState, AgentSandboxState | null, ReturnType<typeof settle>]>([
  ["running", "running", {}],
  ["running", "paused", { to: "paused" }],
  ["running", null, { to: "error", error: "the host no longer has this sandbox" }],
  ["missing", "running", { to: "running" }],
  ["missing", "paused", { to: "paused" }],
  ["missing", null, { to: "error", error: "the host no longer has this sandbox" }],
  ["paused", "paused", {}],
  ["paused", "running", { to: "running" }],
  ["pausing", "paused", { to: "paused" }],
  ["pausing", "running", { to: "running" }],
  ["resuming", "running", { to: "running" }],
  ["starting", "running", { to: "running" }],
  ["starting", "starting", {}],
  ["starting", null, { to: "error", error: "the host no longer has this sandbox" }],
  ["stopping", "running", { to: "stopped", destroyOnHost: true }],
  ["stopping", null, { to: "stopped" }],
  ["error", "running", { destroyOnHost: true }],
  ["error", null, {}],
  [
    "running",
    "stopped",
    { to: "error", error: "the sandbox stopped on its host", destroyOnHost: true },
  ],
  ["running", "error", { to: "error", error: "boom" }],
  ["stopped", "running", {}],
])("database %s, host %s", (db, host, expected) => {
  expect(settle(db, host === null ? null : agent(host))).toEqual(expected);
});
