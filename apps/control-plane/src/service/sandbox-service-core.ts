import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "@wrenn/contract";
import type { HostClient } from "../hosts/host-client.js";
import { trafficTokenOf } from "../secrets/traffic-token.js";
import type { AuditEvent } from "../store/audit-store.js";
import { findSandbox, type SandboxRecord, toSandbox } from "../store/sandbox-store.js";
import { workspaceOfSandbox } from "../store/workspace-store.js";
import { EndpointCache } from "./endpoint-cache.js";
import {
  hostUnavailable,
  invalidState,
  ServiceError,
  sandboxEnded,
  sandboxNotFound,
} from "./errors.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";
import type { Actor, OperationDeadlines, SandboxServiceOptions } from "./sandbox-service-types.js";
import { DEFAULT_DEADLINES } from "./sandbox-service-types.js";
import { type OwnedSandbox, ownerScope, type Principal } from "./sandbox-types.js";
import { NO_SECRETS, type SecretResolver } from "./secret-resolver.js";

export const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What every sandbox operation shares: the options, and the look-ups, token handling and
 * audit attribution they all use. The operations live by job in sandbox-queries.ts,
 * sandbox-create.ts, sandbox-transitions.ts, sandbox-settings.ts and
 * sandbox-settlement-hooks.ts; SandboxService is the facade over them.
 */
export class ServiceCore {
  readonly deadlines: OperationDeadlines;
  readonly settleTimeoutMs: number;
  /** Running sandboxes' rows for the proxy's per-request look-up (endpoint-cache.ts). */
  readonly endpoints = new EndpointCache();

  /** Fills network.rules' placeholders (the secrets store; none wired: placeholders refused). */
  readonly secrets: SecretResolver;

  constructor(readonly options: SandboxServiceOptions) {
    this.deadlines = options.deadlines ?? DEFAULT_DEADLINES;
    this.settleTimeoutMs = options.settleTimeoutMs ?? 30_000;
    this.secrets = options.secrets ?? NO_SECRETS;
  }

  owned(principal: Principal, id: string): Promise<SandboxRecord | null> {
    if (!SANDBOX_ID_PATTERN.test(id)) return Promise.resolve(null);
    return findSandbox(this.options.db, id, ownerScope(principal));
  }

  tokensOf(row: SandboxRecord) {
    const envdAccessToken = this.openToken(row.envdTokenSealed);
    const trafficAccessToken =
      row.network.allowPublicTraffic === false ? trafficTokenOf(envdAccessToken) : null;
    return { envdAccessToken, trafficAccessToken };
  }

  withToken(row: SandboxRecord): OwnedSandbox {
    return { ...toSandbox(row), envdAccessToken: this.openToken(row.envdTokenSealed) };
  }

  /**
   * Tokens never change, so opened ones are kept (bounded): the proxy and signed-URL matching
   * would otherwise decrypt on every request.
   */
  readonly openedTokens = new Map<string, string>();

  openToken(sealed: string): string {
    let token = this.openedTokens.get(sealed);
    if (token === undefined) {
      token = this.options.cipher.open(sealed);
      if (this.openedTokens.size >= 10_000) this.openedTokens.clear();
      this.openedTokens.set(sealed, token);
    }
    return token;
  }

  clientFor(row: SandboxRecord): HostClient {
    if (!row.hostId) throw invalidState(`sandbox ${row.id} is not placed on a host`);
    return this.options.registry.client(row.hostId);
  }

  actorFields(
    actor: Actor,
    row?: SandboxRecord,
  ): Pick<AuditEvent, "actor" | "ownerId" | "apiKeyId"> {
    if (actor.actor === "api") {
      // The sandbox's owner, and the key that acted: an admin's, when it acts across owners.
      return {
        actor: "api",
        ownerId: row?.ownerId ?? actor.principal.ownerId,
        apiKeyId: actor.principal.keyId,
      };
    }
    return { actor: actor.actor, ownerId: row?.ownerId ?? null, apiKeyId: null };
  }

  /**
   * E2B clients do not retry, so an operation arriving mid-transition waits for it briefly.
   * Returns the row as last seen.
   */
  async waitWhileInFlight(ownerId: string | undefined, id: string): Promise<SandboxRecord | null> {
    const deadline = Date.now() + this.settleTimeoutMs;
    for (;;) {
      const row = await findSandbox(this.options.db, id, ownerId);
      if (!row || !["starting", "pausing", "resuming"].includes(row.state)) return row;
      if (Date.now() >= deadline) return row;
      await sleep(100);
    }
  }

  /**
   * A workspace's sandbox ends, and its end time moves, only through its workspace: asked
   * directly (/v1/sandboxes, the E2B API), that is refused with what to run instead. Checked
   * within the principal's reach, so a sandbox it cannot see stays a 404, not a 409.
   */
  async refuseWorkspaceSandbox(principal: Principal, id: string): Promise<void> {
    const name = await workspaceOfSandbox(this.options.db, id, ownerScope(principal));
    if (name === undefined) return;
    throw new ServiceError("workspace_sandbox", errorMessage("workspace_sandbox", { id, name }));
  }

  /** Explains why a guarded update matched nothing. */
  async unmatchedUpdateError(
    ownerId: string | undefined,
    id: string,
    operation: string,
  ): Promise<ServiceError> {
    const row = await findSandbox(this.options.db, id, ownerId);
    if (!row) return sandboxNotFound(id);
    if (row.state === "stopped") return sandboxEnded(row);
    switch (row.state) {
      case "paused":
      case "hibernated":
        return new ServiceError("sandbox_paused", `sandbox ${id} is already paused`);
      case "starting":
      case "pausing":
      case "resuming":
      case "pending":
        return new ServiceError("sandbox_busy", `sandbox ${id} is ${row.state}; try again shortly`);
      case "stopping":
        return invalidState(`sandbox ${id} is being destroyed`);
      case "missing":
        return hostUnavailable(
          `the host of sandbox ${id} is unreachable; cannot ${operation} it now`,
        );
      case "error":
        return invalidState(
          `sandbox ${id} failed (${row.error ?? "unknown error"}); it can only be destroyed`,
        );
      default:
        return invalidState(`cannot ${operation} sandbox ${id} while it is ${row.state}`);
    }
  }
}
