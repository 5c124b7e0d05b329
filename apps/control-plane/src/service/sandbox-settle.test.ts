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
  ...(state === "error" ? { errorReason: "oom" as const } : {}),
});

const LOST: ReturnType<typeof settle> = {
  to: "error",
  error: "the host no longer has this sandbox",
  errorReason: "lost",
};

test.each<[SandboxState, AgentSandboxState | null, ReturnType<typeof settle>]>([
  ["running", "running", {}],
  ["running", "paused", { to: "paused" }],
  ["running", null, LOST],
  ["missing", "running", { to: "running" }],
  ["missing", "paused", { to: "paused" }],
  ["missing", null, LOST],
  ["paused", "paused", {}],
  // Hibernated: in the artifact store, not on a host; its old host not having it is expected.
  ["hibernated", null, {}],
  ["paused", "running", { to: "running" }],
  ["pausing", "paused", { to: "paused" }],
  ["pausing", "running", { to: "running" }],
  ["resuming", "running", { to: "running" }],
  ["starting", "running", { to: "running" }],
  ["starting", "starting", {}],
  ["starting", null, LOST],
  ["stopping", "running", { to: "stopped", destroyOnHost: true }],
  ["stopping", null, { to: "stopped" }],
  ["error", "running", { destroyOnHost: true }],
  ["error", null, {}],
  [
    "running",
    "stopped",
    {
      to: "error",
      error: "the sandbox stopped on its host",
      errorReason: "crashed",
      destroyOnHost: true,
    },
  ],
  ["running", "error", { to: "error", error: "boom", errorReason: "oom" }],
  ["stopped", "running", {}],
])("database %s, host %s", (db, host, expected) => {
  expect(settle(db, host === null ? null : agent(host))).toEqual(expected);
});
