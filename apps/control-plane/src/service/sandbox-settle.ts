import type { SandboxErrorReason } from "@wrenn/contract";
import type { AgentSandbox } from "../hosts/host-client.js";
import type { SandboxState } from "./sandbox-types.js";

export interface Settlement {
  /** New database state, when it should change. */
  to?: SandboxState;
  /** The host holds a sandbox the database has given up on: destroy it there. */
  destroyOnHost?: boolean;
  error?: string;
  errorReason?: SandboxErrorReason;
}

const LOST = "the host no longer has this sandbox";

/**
 * What the database should say about a sandbox given what its host says: the single rule used
 * by reconciliation after restarts, by the stuck-operation pass and after a failed operation.
 * The host is the truth about what runs; the database is the truth about what was asked for
 * (a sandbox being stopped, or given up as failed, is destroyed wherever it still runs).
 */
export function settle(db: SandboxState, agent: AgentSandbox | null): Settlement {
  if (db === "stopped" || db === "pending") return {};
  if (agent === null) {
    if (db === "stopping") return { to: "stopped" };
    // It lives in the artifact store, not on a host: a host without it is as expected.
    if (db === "hibernated") return {};
    if (db === "error") return {};
    return { to: "error", error: LOST, errorReason: "lost" };
  }
  if (db === "stopping") return { to: "stopped", destroyOnHost: true };
  switch (agent.state) {
    case "starting":
    case "unknown":
      return {};
    case "running":
      if (db === "error") return { destroyOnHost: true };
      return db === "running" ? {} : { to: "running" };
    case "paused":
      if (db === "error") return { destroyOnHost: true };
      return db === "paused" || db === "hibernated" ? {} : { to: "paused" };
    case "stopped":
      if (db === "error") return { destroyOnHost: true };
      return {
        to: "error",
        error: "the sandbox stopped on its host",
        errorReason: "crashed",
        destroyOnHost: true,
      };
    case "error":
      if (db === "error") return {};
      return {
        to: "error",
        error: agent.error || "the host reports the sandbox failed",
        errorReason: agent.errorReason ?? "failed",
      };
  }
}
