import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import type { HostClient } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import type { TokenCipher } from "../secrets/token-cipher.js";
import type { AuditLog } from "./audit-log.js";
import type { SandboxDefaults } from "./limits.js";
import type { Principal, Sandbox, SandboxState } from "./sandbox-types.js";
import type { SecretResolver } from "./secret-resolver.js";
import type { TemplateService } from "./template-service.js";

// The sandbox service's options and result shapes, apart so the facade and each operation file
// share them; sandbox-service.ts re-exports them for callers.

/** Seconds an operation may stay in flight before the lifecycle manager treats it as stuck. */
export interface OperationDeadlines {
  start: number;
  pause: number;
  resume: number;
  stop: number;
}

export const DEFAULT_DEADLINES: OperationDeadlines = {
  start: 600,
  pause: 300,
  resume: 300,
  stop: 60,
};

/** How a destroy or a timeout change is asked for. */
export interface SandboxChangeOptions {
  /**
   * The workspace service (or an admin page) acting on a workspace's sandbox; anyone else is
   * refused with workspace_sandbox.
   */
  ofWorkspace?: boolean;
  /**
   * False for the workspace's own keep-alive (each SSH tunnel's open and close): routine upkeep,
   * not a change anybody asked for, so no audit row.
   */
  audit?: boolean;
}

export interface SandboxServiceOptions {
  db: Database;
  scheduler: Scheduler;
  registry: HostRegistry;
  cipher: TokenCipher;
  audit: AuditLog;
  logger: Logger;
  defaults: SandboxDefaults;
  deadlines?: OperationDeadlines;
  /** How long pause/resume/connect wait for another operation on the same sandbox to finish. */
  settleTimeoutMs?: number;
  /** The owner's templates from images: `name[:tag]` → the host's template. */
  templates?: Pick<TemplateService, "resolve">;
  /**
   * Seconds a sandbox that failed before it ever ran stays in default lists
   * (WRENN_FAILED_CREATE_VISIBLE_SECONDS); after that only a list asking for state error shows it.
   */
  failedCreateVisibleSeconds?: number;
  /** Resolves `${e2b.secrets.NAME}` in network.rules (the /secrets store). */
  secrets?: SecretResolver;
}

/** How long a failed create stays in default lists unless configured otherwise. */
export const DEFAULT_FAILED_CREATE_VISIBLE_SECONDS = 600;

export interface ListSandboxesQuery {
  /** Default: every state. */
  states?: readonly SandboxState[];
  /**
   * Leave out sandboxes that failed before they ever ran once they have been failed for
   * failedCreateVisibleSeconds: what a list shows when nobody asked for particular states.
   */
  hideFailedCreates?: boolean;
  metadata?: Record<string, string>;
  /** One owner's only: a filter for an admin reaching every owner (others see their own). */
  ownerId?: string;
  template?: string;
  /** Case-insensitive substring of the id, name, template or a metadata key, value or key=value. */
  search?: string;
  startedAfter?: Date;
  order?: "asc" | "desc";
  limit?: number;
  cursor?: string;
}

export interface SandboxPage {
  sandboxes: Sandbox[];
  nextCursor: string | null;
}

/** The state a row was settled to (null: not changed, someone else moved it first). */
export interface SettleOutcome {
  state: SandboxState | null;
  destroyedOnHost: boolean;
}

/** Who an audit event is attributed to. */
export type Actor =
  | { actor: "api"; principal: Principal }
  | { actor: "lifecycle" | "reconciler" | "system" };

/**
 * A running sandbox as the I/O paths (proxy, exec, files, terminal) need it: which host holds
 * it, and envd's access token.
 */
export interface SandboxEndpoint {
  id: string;
  ownerId: string;
  apiKeyId: string;
  hostId: string;
  client: HostClient;
  envdAccessToken: string;
  /** Set when the sandbox's ports need it (allowPublicTraffic false); null when public. */
  trafficAccessToken: string | null;
}

/** What a shutdown pause did with each running sandbox. */
export interface ShutdownPauseReport {
  /** Saved to disk: nothing of them keeps running. */
  checkpointed: string[];
  /** Held open TCP sockets, so they could only be frozen in memory (their processes remain). */
  frozen: string[];
  failed: { id: string; error: string }[];
}
