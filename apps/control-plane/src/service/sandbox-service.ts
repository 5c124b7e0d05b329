import { setTimeout as sleep } from "node:timers/promises";
import {
  checkMetadata,
  checkTemplateName,
  checkTimeout,
  type ErrorCode,
  errorMessage,
  httpStatusOf,
  isSandboxName,
  LIMITS,
} from "@wrenn/contract";
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import {
  type AgentSandbox,
  type AgentSandboxStats,
  type ForwardTarget,
  type HostClient,
  HostError,
} from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import type { TokenCipher } from "../secrets/token-cipher.js";
import { generateEnvdToken } from "../secrets/token-cipher.js";
import { trafficTokenOf } from "../secrets/traffic-token.js";
import { lockKey } from "../store/api-key-store.js";
import type { AuditEvent } from "../store/audit-store.js";
import {
  countByState,
  deleteRefusedSandbox,
  endedAmong,
  findSandbox,
  findSandboxByName,
  insertSandbox,
  listSandboxes,
  NameTakenError,
  runningSandboxes,
  type SandboxChange,
  type SandboxRow,
  toSandbox,
  updateSandbox,
} from "../store/sandbox-store.js";
import type { AuditLog } from "./audit-log.js";
import {
  hostUnavailable,
  invalidRequest,
  invalidState,
  ServiceError,
  sandboxEnded,
  sandboxNotFound,
  validated,
} from "./errors.js";
import { newSandboxId, SANDBOX_ID_PATTERN } from "./ids.js";
import type { SandboxDefaults } from "./limits.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import { enforceCreateRate, enforcePools } from "./quota.js";
import { type CreateSandboxInput, egressOf, normalizeCreate } from "./sandbox-input.js";
import { settle } from "./sandbox-settle.js";
import {
  type EgressRules,
  IN_FLIGHT_STATES,
  type OwnedSandbox,
  type Principal,
  SANDBOX_STATES,
  type Sandbox,
  type SandboxState,
  SUSPENDED_STATES,
} from "./sandbox-types.js";
import type { TemplateService } from "./template-service.js";

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
type Actor =
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

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const NOT_STOPPED = SANDBOX_STATES.filter((s) => s !== "stopped");
const TIMEOUT_STATES: readonly SandboxState[] = [
  "pending",
  "starting",
  "running",
  "pausing",
  "paused",
  "resuming",
  "hibernated",
  "missing",
];

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The contract code of a host agent's refusal: the agent named a code whose meaning is "your
 * request was wrong" (4xx), so the caller gets that code, not a host failure.
 */
export function refusalCode(error: HostError): ErrorCode | undefined {
  const status = error.code === undefined ? 0 : httpStatusOf(error.code);
  return status >= 400 && status < 500 ? error.code : undefined;
}

/** How a failure of the host agent reads to an API client. */
export function fromHostError(error: HostError, operation: string): ServiceError {
  const refused = refusalCode(error);
  if (refused)
    return new ServiceError(refused, `the host refused to ${operation}: ${error.message}`);
  switch (error.kind) {
    case "unavailable":
      return hostUnavailable(`the host agent did not answer (${operation}): ${error.message}`);
    case "invalid_argument":
      return invalidRequest(`the host agent refused the ${operation}: ${error.message}`);
    case "resource_exhausted":
      return new ServiceError(
        "no_capacity",
        `the host has no room to ${operation}: ${error.message}`,
      );
    case "failed_precondition":
      return invalidState(`the host agent cannot ${operation} now: ${error.message}`);
    case "permission_denied":
      return new ServiceError(
        "forbidden_by_host",
        `the host agent refused to ${operation}: ${error.message}`,
      );
    case "unauthenticated":
      return new ServiceError(
        "host_error",
        `the host agent rejected the control plane's credentials (check WRENN_AGENT_TOKEN): ${error.message}`,
      );
    default:
      return new ServiceError(
        "host_error",
        `the host agent failed to ${operation}: ${error.message}`,
      );
  }
}

/**
 * Every sandbox operation, once. The REST API, the E2B API, the lifecycle manager and later the
 * admin UI call this; ownership is enforced here, so no caller can forget it.
 *
 * Concurrency: each operation moves the row with a compare-and-set on its state (running →
 * pausing → paused, ...), so two operations on one sandbox cannot both proceed, across any
 * number of control planes. A row left in flight by a crash is settled by the lifecycle manager
 * once its op_deadline passes.
 */
export class SandboxService {
  private readonly deadlines: OperationDeadlines;
  private readonly settleTimeoutMs: number;

  constructor(private readonly o: SandboxServiceOptions) {
    this.deadlines = o.deadlines ?? DEFAULT_DEADLINES;
    this.settleTimeoutMs = o.settleTimeoutMs ?? 30_000;
  }

  // ---------------------------------------------------------------- queries

  /**
   * The id a reference names: an id as it is, a name as the owner's sandbox holding it (else the
   * newest that ended with it). The one place names are resolved; every /v1 route with an id
   * in its path, and the /v1 port proxy, call it. Unknown names are sandbox_not_found.
   */
  async resolveId(principal: Principal, ref: string): Promise<string> {
    if (SANDBOX_ID_PATTERN.test(ref) || !isSandboxName(ref)) return ref;
    const row = await findSandboxByName(this.o.db, principal.ownerId, ref);
    if (!row) throw sandboxNotFound(ref);
    return row.id;
  }

  async get(principal: Principal, id: string): Promise<OwnedSandbox> {
    const row = await this.owned(principal, id);
    if (!row) throw sandboxNotFound(id);
    return this.withToken(row);
  }

  async list(principal: Principal, query: ListSandboxesQuery): Promise<SandboxPage> {
    const limit = query.limit ?? LIMITS.listLimit.default;
    if (!Number.isInteger(limit) || limit < LIMITS.listLimit.min || limit > LIMITS.listLimit.max) {
      throw invalidRequest(
        `limit must be an integer from ${LIMITS.listLimit.min} to ${LIMITS.listLimit.max}`,
      );
    }
    const unknownState = query.states?.find((s) => !SANDBOX_STATES.includes(s));
    if (unknownState !== undefined)
      throw invalidRequest(`unknown state ${JSON.stringify(unknownState)}`);
    if (query.search !== undefined && query.search.length > LIMITS.searchLength) {
      throw invalidRequest(`search must be at most ${LIMITS.searchLength} characters`);
    }
    const order = query.order ?? "desc";
    const rows = await listSandboxes(this.o.db, {
      ownerId: principal.ownerId,
      states: query.states,
      hideFailedCreatesAfterSeconds: query.hideFailedCreates
        ? (this.o.failedCreateVisibleSeconds ?? DEFAULT_FAILED_CREATE_VISIBLE_SECONDS)
        : undefined,
      metadata:
        query.metadata === undefined ? undefined : validated(() => checkMetadata(query.metadata)),
      template:
        query.template === undefined
          ? undefined
          : validated(() => checkTemplateName(query.template)),
      search: query.search,
      startedAfter: query.startedAfter,
      order,
      limit,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      sandboxes: page.map(toSandbox),
      nextCursor:
        rows.length > limit && last
          ? encodeCursor({ startedAt: last.started_at, id: last.id })
          : null,
    };
  }

  /** Current usage figures from the host; null when the sandbox is not running. */
  async stats(principal: Principal, id: string): Promise<AgentSandboxStats | null> {
    const row = await this.owned(principal, id);
    if (!row) throw sandboxNotFound(id);
    if (row.state === "stopped") throw sandboxEnded(row);
    if (row.state !== "running" || !row.host_id) return null;
    try {
      return await this.o.registry.client(row.host_id).sandboxStats(id);
    } catch (error) {
      if (error instanceof HostError) throw fromHostError(error, "read sandbox stats");
      throw error;
    }
  }

  /**
   * Where traffic for a sandbox port goes: the seam for the proxy and for exec/files over the
   * host agent's forwarder. Without a principal (E2B envd traffic, authorised by envd's own
   * access token) any owner's sandbox resolves.
   */
  async forwardTarget(
    principal: Principal | null,
    id: string,
    port: number,
  ): Promise<ForwardTarget> {
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw invalidRequest("port must be 1-65535");
    return (await this.endpoint(principal, id)).client.forwardTarget(id, port);
  }

  /**
   * A running sandbox of the principal (of anyone without one): 404 when it does not exist or
   * is another owner's, 409 sandbox_not_running when it exists but is not running.
   */
  async endpoint(principal: Principal | null, id: string): Promise<SandboxEndpoint> {
    const row = SANDBOX_ID_PATTERN.test(id)
      ? await findSandbox(this.o.db, id, principal?.ownerId)
      : null;
    if (!row) throw sandboxNotFound(id);
    if (row.state === "stopped") throw sandboxEnded(row);
    if (row.state === "error") {
      // Its processes are gone: nothing can run or serve files in it any more.
      throw new ServiceError(
        "sandbox_failed",
        `sandbox ${id} failed (${row.error_reason ?? "failed"}): ${row.error ?? "no detail"}. Its processes are gone; delete it to free its resources`,
      );
    }
    if (row.state !== "running" || !row.host_id) {
      throw new ServiceError("sandbox_not_running", `sandbox ${id} is ${row.state}, not running`);
    }
    return {
      id: row.id,
      ownerId: row.owner_id,
      apiKeyId: row.api_key_id,
      hostId: row.host_id,
      client: this.o.registry.client(row.host_id),
      ...this.tokensOf(row),
    };
  }

  /**
   * Usage figures of every running sandbox on the hosts this control plane serves, for the
   * admin UI's metrics history; a sandbox whose host does not answer is left out (it may have
   * just stopped). At most `concurrency` host calls are in flight at once.
   */
  async runningStats(concurrency = 8): Promise<{ id: string; stats: AgentSandboxStats }[]> {
    const rows = (await runningSandboxes(this.o.db)).filter((r) => r.host_id !== null);
    const out: { id: string; stats: AgentSandboxStats }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        let client: HostClient;
        try {
          client = this.o.registry.client(row.host_id!);
        } catch {
          continue; // a host another control plane serves
        }
        try {
          out.push({ id: row.id, stats: await client.sandboxStats(row.id) });
        } catch (error) {
          if (!(error instanceof HostError)) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
    return out;
  }

  /** Sandboxes per state across every owner (for /metrics; not an owner's view). */
  countsByState(): Promise<Record<string, number>> {
    return countByState(this.o.db);
  }

  /** Of these sandbox ids, those that have ended (stopped) or do not exist. */
  ended(ids: readonly string[]): Promise<string[]> {
    return endedAmong(this.o.db, ids);
  }

  /** Every running sandbox with its envd token, to match signed /files URLs against. */
  async runningEndpoints(): Promise<SandboxEndpoint[]> {
    const rows = await runningSandboxes(this.o.db);
    const out: SandboxEndpoint[] = [];
    for (const row of rows) {
      if (!row.host_id) continue;
      let client: HostClient;
      try {
        client = this.o.registry.client(row.host_id);
      } catch {
        continue; // a host another control plane serves
      }
      out.push({
        id: row.id,
        ownerId: row.owner_id,
        apiKeyId: row.api_key_id,
        hostId: row.host_id,
        client,
        ...this.tokensOf(row),
      });
    }
    return out;
  }

  /**
   * Pauses every running sandbox of a host, for a local stack that is shutting down: a
   * checkpointed sandbox leaves no process behind and resumes at the next start.
   */
  async pauseAllOnHost(hostId: string): Promise<ShutdownPauseReport> {
    const report: ShutdownPauseReport = { checkpointed: [], frozen: [], failed: [] };
    const rows = await this.o.db.query<SandboxRow>(
      `UPDATE sandboxes SET state = 'pausing', state_changed_at = now(),
         op_deadline = now() + ($2::double precision * interval '1 second')
       WHERE host_id = $1 AND state = 'running' RETURNING *`,
      [hostId, this.deadlines.pause],
    );
    for (const row of rows.rows) {
      try {
        const { pauseMode } = await this.runPauseOnHost(row, { actor: "system" });
        (pauseMode === "freeze" ? report.frozen : report.checkpointed).push(row.id);
      } catch (error) {
        report.failed.push({ id: row.id, error: describe(error) });
      }
    }
    return report;
  }

  // ---------------------------------------------------------------- create

  async create(principal: Principal, input: CreateSandboxInput): Promise<OwnedSandbox> {
    const normalized = normalizeCreate(input, this.o.defaults);
    // One of the owner's own templates (from an image) runs as the host's name for it.
    const own = await this.o.templates?.resolve(principal, normalized.template);
    const spec = own ? { ...normalized, template: own } : normalized;
    // A host directory is the host's own data: only an admin may ask for one.
    if (spec.mounts.length > 0 && principal.role !== "admin") {
      throw new ServiceError(
        "mounts_not_allowed",
        "only an admin API key may mount host directories",
      );
    }
    const began = performance.now();
    const placement = await this.o.scheduler.place({
      template: spec.template,
      resources: spec.resources,
    });
    const token = generateEnvdToken();
    const row = await this.o.db
      .transaction(async (tx) => {
        const key = await lockKey(tx, principal.keyId);
        if (!key || key.revokedAt)
          throw new ServiceError("invalid_api_key", "the API key was revoked");
        await enforceCreateRate(tx, key);
        await enforcePools(tx, key, spec.resources, { storage: true });
        for (let attempt = 0; attempt < 5; attempt++) {
          const inserted = await insertSandbox(tx, {
            id: newSandboxId(),
            name: spec.name,
            ownerId: principal.ownerId,
            apiKeyId: principal.keyId,
            template: spec.template,
            state: "starting",
            resources: spec.resources,
            metadata: spec.metadata,
            envVarNames: Object.keys(spec.envVars),
            allowInternet: spec.allowInternet,
            network: spec.network,
            autoPause: spec.autoPause,
            timeoutSeconds: spec.timeoutSeconds,
            envdTokenSealed: this.o.cipher.seal(token),
            hostId: placement.hostId,
            opDeadlineSeconds: this.deadlines.start,
          });
          if (inserted) return inserted;
        }
        throw new Error("could not draw a free sandbox id");
      })
      .catch((error: unknown) => {
        if (error instanceof NameTakenError) {
          throw new ServiceError(
            "sandbox_name_taken",
            `${errorMessage("sandbox_name_taken", { name: error.sandboxName })}; pick another name, or destroy that sandbox first`,
          );
        }
        throw error;
      });

    const auditBase: AuditEvent = {
      ...this.actorFields({ actor: "api", principal }),
      action: "sandbox.create",
      sandboxId: row.id,
      outcome: "ok",
    };
    let agent: AgentSandbox;
    try {
      agent = await placement.client.createSandbox({
        sandboxId: row.id,
        template: spec.template,
        vcpus: spec.resources.vcpus,
        memoryMb: spec.resources.memoryMb,
        diskMb: spec.resources.diskMb,
        envVars: spec.envVars,
        metadata: spec.metadata,
        allowInternet: spec.allowInternet,
        allowOut: spec.network.allowOut,
        denyOut: spec.network.denyOut,
        envdAccessToken: token,
        mounts: spec.mounts,
      });
      if (!SEMVER.test(agent.envdVersion)) {
        throw new HostError(
          "internal",
          `envd version ${JSON.stringify(agent.envdVersion)} is not semver`,
        );
      }
    } catch (error) {
      const refused = error instanceof HostError ? refusalCode(error) : undefined;
      // A refusal means the sandbox never existed: its row goes (the audit event below keeps
      // the reason). Any other failure may have left something on the host, so the row stays,
      // marked failed, for the owner and reconciliation to see.
      if (refused) await deleteRefusedSandbox(this.o.db, row.id);
      else {
        await updateSandbox(
          this.o.db,
          { id: row.id, states: ["starting"] },
          {
            state: "error",
            error: describe(error).slice(0, 1000),
            errorReason: "failed",
            opDeadlineSeconds: null,
          },
        );
        // The agent may have got far enough to leave something behind. (A refusal created
        // nothing, and for already_exists the id on the host is not this sandbox's.)
        await placement.client.destroySandbox(row.id).catch(() => {});
      }
      await this.o.audit.record({
        ...auditBase,
        outcome: "error",
        durationMs: performance.now() - began,
        detail: {
          template: spec.template,
          error: describe(error),
          ...(refused ? { refused } : {}),
        },
      });
      if (error instanceof HostError) {
        throw error.kind === "not_found" && !refused
          ? new ServiceError(
              "template_not_found",
              `the host does not have template ${spec.template}: ${error.message}`,
            )
          : fromHostError(error, "create the sandbox");
      }
      throw error;
    }

    const running = await updateSandbox(
      this.o.db,
      { id: row.id, states: ["starting"] },
      { state: "running", envdVersion: agent.envdVersion, opDeadlineSeconds: null },
    );
    if (!running) {
      // Destroyed while it was starting: the destroy may have reached the agent first.
      await placement.client.destroySandbox(row.id).catch(() => {});
      throw sandboxNotFound(row.id);
    }
    await this.o.audit.record({
      ...auditBase,
      durationMs: performance.now() - began,
      detail: { template: spec.template, resources: spec.resources, hostId: placement.hostId },
    });
    return { ...toSandbox(running), envdAccessToken: token };
  }

  // ---------------------------------------------------------------- destroy

  /** Idempotent: destroying a stopped sandbox reports alreadyStopped instead of failing. */
  async destroy(principal: Principal, id: string): Promise<{ alreadyStopped: boolean }> {
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    const row = await updateSandbox(
      this.o.db,
      { id, ownerId: principal.ownerId, states: NOT_STOPPED },
      { state: "stopping", stopReason: "destroyed", opDeadlineSeconds: this.deadlines.stop },
    );
    if (!row) {
      if (!(await this.owned(principal, id))) throw sandboxNotFound(id);
      return { alreadyStopped: true };
    }
    await this.runDestroy(row, { actor: "api", principal });
    return { alreadyStopped: false };
  }

  /**
   * Finishes a destroy the row is already committed to (state stopping). If the host cannot be
   * reached the row stays stopping and the lifecycle manager retries after its deadline: the
   * intent is durable, so the caller is not told to retry.
   */
  async runDestroy(row: SandboxRow, actor: Actor): Promise<void> {
    const began = performance.now();
    const event: AuditEvent = {
      ...this.actorFields(actor, row),
      action: "sandbox.destroy",
      sandboxId: row.id,
      outcome: "ok",
    };
    if (row.host_id) {
      try {
        await this.o.registry.client(row.host_id).destroySandbox(row.id);
      } catch (error) {
        this.o.logger.warn(
          { sandboxId: row.id, err: describe(error) },
          "destroy deferred; will retry",
        );
        await this.o.audit.record({
          ...event,
          outcome: "deferred",
          durationMs: performance.now() - began,
          detail: { error: describe(error) },
        });
        return;
      }
    }
    await updateSandbox(
      this.o.db,
      { id: row.id, states: ["stopping"] },
      { state: "stopped", opDeadlineSeconds: null },
    );
    await this.o.audit.record({ ...event, durationMs: performance.now() - began });
  }

  // ---------------------------------------------------------------- pause

  async pause(principal: Principal, id: string): Promise<Sandbox> {
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    await this.waitWhileInFlight(principal.ownerId, id);
    const row = await updateSandbox(
      this.o.db,
      { id, ownerId: principal.ownerId, states: ["running"] },
      { state: "pausing", opDeadlineSeconds: this.deadlines.pause },
    );
    if (!row) throw await this.whyNot(principal.ownerId, id, "pause");
    return this.runPause(row, { actor: "api", principal });
  }

  /** Finishes a pause the row is committed to (state pausing). */
  async runPause(row: SandboxRow, actor: Actor): Promise<Sandbox> {
    return (await this.runPauseOnHost(row, actor)).sandbox;
  }

  private async runPauseOnHost(
    row: SandboxRow,
    actor: Actor,
  ): Promise<{ sandbox: Sandbox; pauseMode?: "checkpoint" | "freeze" }> {
    const began = performance.now();
    const event: AuditEvent = {
      ...this.actorFields(actor, row),
      action: "sandbox.pause",
      sandboxId: row.id,
      outcome: "ok",
    };
    const client = this.clientFor(row);
    let pauseMode: "checkpoint" | "freeze" | undefined;
    try {
      ({ pauseMode } = await client.pauseSandbox(row.id));
    } catch (error) {
      await this.o.audit.record({
        ...event,
        outcome: "error",
        durationMs: performance.now() - began,
        detail: { error: describe(error) },
      });
      await this.settleWithHost(row, client);
      if (error instanceof HostError) throw fromHostError(error, "pause the sandbox");
      throw error;
    }
    const paused = await updateSandbox(
      this.o.db,
      { id: row.id, states: ["pausing"] },
      { state: "paused", opDeadlineSeconds: null },
    );
    await this.o.audit.record({
      ...event,
      durationMs: performance.now() - began,
      ...(pauseMode ? { detail: { mode: pauseMode } } : {}),
    });
    if (!paused) throw sandboxNotFound(row.id);
    return { sandbox: toSandbox(paused), pauseMode };
  }

  // ---------------------------------------------------------------- resume / connect

  /**
   * E2B's connect: a running sandbox gets its end time extended (never shortened); a paused one
   * is resumed with a fresh end time. `resumed` tells the two apart (E2B answers 200 vs 201).
   * Without a timeout, the one the sandbox was created with applies.
   */
  async resume(
    principal: Principal,
    id: string,
    options: { timeoutSeconds?: number } = {},
  ): Promise<{ sandbox: OwnedSandbox; resumed: boolean }> {
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    const asked =
      options.timeoutSeconds === undefined
        ? undefined
        : validated(() => checkTimeout(options.timeoutSeconds));
    for (let attempt = 0; attempt < 3; attempt++) {
      const seen = await this.waitWhileInFlight(principal.ownerId, id);
      if (!seen) throw sandboxNotFound(id);
      const timeout = asked ?? seen.timeout_seconds;
      const extended = await updateSandbox(
        this.o.db,
        { id, ownerId: principal.ownerId, states: ["running"] },
        { endNoEarlierThanSeconds: timeout },
      );
      if (extended) return { sandbox: this.withToken(extended), resumed: false };

      const row = await this.o.db.transaction(async (tx) => {
        const current = await findSandbox(tx, id, principal.ownerId);
        if (!current || !SUSPENDED_STATES.includes(current.state)) return null;
        const key = await lockKey(tx, current.api_key_id);
        if (key) {
          await enforcePools(
            tx,
            key,
            { vcpus: current.vcpus, memoryMb: current.memory_mb, diskMb: current.disk_mb },
            { storage: false },
          );
        }
        return updateSandbox(
          tx,
          { id, states: SUSPENDED_STATES },
          { state: "resuming", opDeadlineSeconds: this.deadlines.resume },
        );
      });
      if (row) {
        const sandbox = await this.runResume(row, timeout, { actor: "api", principal });
        return { sandbox, resumed: true };
      }
      const current = await this.owned(principal, id);
      // Moved between our two attempts (e.g. a pause finished): look again.
      if (current && (current.state === "running" || IN_FLIGHT_STATES.includes(current.state)))
        continue;
      throw await this.whyNot(principal.ownerId, id, "resume");
    }
    throw new ServiceError("sandbox_busy", `sandbox ${id} keeps changing state; try again`);
  }

  private async runResume(row: SandboxRow, timeout: number, actor: Actor): Promise<OwnedSandbox> {
    const began = performance.now();
    const event: AuditEvent = {
      ...this.actorFields(actor, row),
      action: "sandbox.resume",
      sandboxId: row.id,
      outcome: "ok",
    };
    const client = this.clientFor(row);
    try {
      await client.resumeSandbox(row.id);
    } catch (error) {
      await this.o.audit.record({
        ...event,
        outcome: "error",
        durationMs: performance.now() - began,
        detail: { error: describe(error) },
      });
      await this.settleWithHost(row, client);
      if (error instanceof HostError) throw fromHostError(error, "resume the sandbox");
      throw error;
    }
    const running = await updateSandbox(
      this.o.db,
      { id: row.id, states: ["resuming"] },
      { state: "running", endInSeconds: timeout, opDeadlineSeconds: null },
    );
    await this.o.audit.record({ ...event, durationMs: performance.now() - began });
    if (!running) throw sandboxNotFound(row.id);
    return this.withToken(running);
  }

  // ---------------------------------------------------------------- timeout

  /** Sets the end time to now + seconds, shortening it if asked (E2B's setTimeout). */
  async setTimeout(principal: Principal, id: string, asked: number): Promise<Sandbox> {
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    const seconds = validated(() => checkTimeout(asked));
    const row = await updateSandbox(
      this.o.db,
      { id, ownerId: principal.ownerId, states: TIMEOUT_STATES },
      { endInSeconds: seconds },
    );
    if (!row) throw await this.whyNot(principal.ownerId, id, "set the timeout of");
    await this.o.audit.record({
      ...this.actorFields({ actor: "api", principal }),
      action: "sandbox.timeout",
      sandboxId: id,
      outcome: "ok",
      detail: { seconds },
    });
    return toSandbox(row);
  }

  // ---------------------------------------------------------------- network

  /**
   * Replaces a sandbox's whole egress policy without a restart (E2B's updateNetwork): what the
   * input leaves out is cleared, internet access falls back to the operator's default. The host
   * applies it first (a running sandbox's forbidden connections are cut there; a paused one gets
   * it when it resumes), then the record follows, so the record never claims rules the host
   * refused.
   */
  async updateNetwork(
    principal: Principal,
    id: string,
    input: {
      allowInternet?: boolean;
      network?: Pick<Partial<EgressRules>, "allowOut" | "denyOut">;
    },
  ): Promise<Sandbox> {
    const egress = validated(() => egressOf(input, this.o.defaults));
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    const row = await this.waitWhileInFlight(principal.ownerId, id);
    if (!row || row.state === "stopped") throw sandboxNotFound(id);
    if (row.state !== "running" && row.state !== "paused") {
      throw await this.whyNot(principal.ownerId, id, "change the network of");
    }
    // Inbound access is not part of E2B's egress update: it stays as it was.
    if (row.network.allowPublicTraffic === false) egress.network.allowPublicTraffic = false;
    const event: AuditEvent = {
      ...this.actorFields({ actor: "api", principal }, row),
      action: "sandbox.network",
      sandboxId: id,
      outcome: "ok",
      detail: { allowInternet: egress.allowInternet, ...egress.network },
    };
    try {
      await this.clientFor(row).updateSandboxNetwork(id, {
        allowInternet: egress.allowInternet,
        allowOut: egress.network.allowOut,
        denyOut: egress.network.denyOut,
      });
    } catch (error) {
      await this.o.audit.record({ ...event, outcome: "error", detail: { error: describe(error) } });
      if (error instanceof HostError) throw fromHostError(error, "change the sandbox's network");
      throw error;
    }
    const updated = await updateSandbox(
      this.o.db,
      { id, ownerId: principal.ownerId, states: ["running", "paused"] },
      { egress },
    );
    if (!updated) throw await this.whyNot(principal.ownerId, id, "change the network of");
    await this.o.audit.record(event);
    return toSandbox(updated);
  }

  // ---------------------------------------------------------------- lifecycle hooks

  /** Acts on a row the lifecycle manager claimed at its end time (now pausing or stopping). */
  async finishExpiry(row: SandboxRow): Promise<void> {
    if (row.state === "stopping") return this.runDestroy(row, { actor: "lifecycle" });
    if (row.state !== "pausing") return;
    try {
      await this.runPause(row, { actor: "lifecycle" });
    } catch (error) {
      // The sandbox went back to running (or error); try again a little later, not every tick.
      this.o.logger.warn(
        { sandboxId: row.id, err: describe(error) },
        "auto-pause failed; retrying in 30 s",
      );
      await updateSandbox(this.o.db, { id: row.id, states: ["running"] }, { endInSeconds: 30 });
    }
  }

  /** Resolves a row whose operation overran its deadline (a crashed or hung control plane). */
  async settleStuck(row: SandboxRow): Promise<void> {
    if (row.state === "stopping") return this.runDestroy(row, { actor: "lifecycle" });
    if (!row.host_id) {
      await updateSandbox(
        this.o.db,
        { id: row.id, states: [row.state] },
        {
          state: "error",
          error: "never placed on a host",
          errorReason: "failed",
          opDeadlineSeconds: null,
        },
      );
      return;
    }
    await this.settleWithHost(row, this.o.registry.client(row.host_id));
  }

  /**
   * Brings one row in line with what its host reports (see settle()). Used after a failed
   * operation and for stuck rows; if the host cannot be asked, the row is left for a later pass.
   */
  async settleWithHost(row: SandboxRow, client: HostClient): Promise<SettleOutcome | null> {
    let agent: AgentSandbox | null;
    try {
      agent = await client.getSandbox(row.id);
    } catch (error) {
      this.o.logger.warn(
        { sandboxId: row.id, err: describe(error) },
        "cannot ask the host about a sandbox",
      );
      return null;
    }
    return this.applySettlement(row, agent, client, undefined, "lifecycle");
  }

  /**
   * Applies settle() to one row. `unchangedSince` makes the update conditional on the state not
   * having moved since then (reconciliation compares against an earlier listing).
   */
  async applySettlement(
    row: SandboxRow,
    agent: AgentSandbox | null,
    client: HostClient,
    unchangedSince: Date | undefined,
    actor: "lifecycle" | "reconciler",
  ): Promise<SettleOutcome> {
    const decision = settle(row.state, agent);
    if (decision.destroyOnHost) {
      try {
        await client.destroySandbox(row.id);
      } catch (error) {
        this.o.logger.warn(
          { sandboxId: row.id, err: describe(error) },
          "could not destroy on host",
        );
        return { state: null, destroyedOnHost: false };
      }
    }
    const destroyedOnHost = decision.destroyOnHost === true;
    if (!decision.to) {
      if (IN_FLIGHT_STATES.includes(row.state)) {
        // Nothing to change, but the host answered: the operation is over.
        await updateSandbox(
          this.o.db,
          { id: row.id, states: [row.state], unchangedSince },
          { opDeadlineSeconds: null },
        );
      }
      return { state: row.state, destroyedOnHost };
    }
    const change: SandboxChange = { state: decision.to, opDeadlineSeconds: null };
    if (decision.error !== undefined) change.error = decision.error;
    if (decision.errorReason !== undefined) change.errorReason = decision.errorReason;
    if (decision.to === "running" && agent?.envdVersion && SEMVER.test(agent.envdVersion)) {
      change.envdVersion = agent.envdVersion;
    }
    if (decision.to === "running" && row.state === "resuming")
      change.endInSeconds = row.timeout_seconds;
    const updated = await updateSandbox(
      this.o.db,
      { id: row.id, states: [row.state], unchangedSince },
      change,
    );
    if (updated) {
      this.o.logger.info(
        { sandboxId: row.id, from: row.state, to: decision.to },
        "sandbox state settled from its host",
      );
      await this.o.audit.record({
        actor,
        ownerId: row.owner_id,
        action: "sandbox.settle",
        sandboxId: row.id,
        outcome: "ok",
        detail: {
          from: row.state,
          to: decision.to,
          host: agent?.state ?? "absent",
          error: decision.error,
        },
      });
    }
    return { state: updated ? decision.to : null, destroyedOnHost };
  }

  // ---------------------------------------------------------------- internals

  private owned(principal: Principal, id: string): Promise<SandboxRow | null> {
    if (!SANDBOX_ID_PATTERN.test(id)) return Promise.resolve(null);
    return findSandbox(this.o.db, id, principal.ownerId);
  }

  private tokensOf(row: SandboxRow) {
    const envdAccessToken = this.openToken(row.envd_token_sealed);
    const trafficAccessToken =
      row.network.allowPublicTraffic === false ? trafficTokenOf(envdAccessToken) : null;
    return { envdAccessToken, trafficAccessToken };
  }

  private withToken(row: SandboxRow): OwnedSandbox {
    return { ...toSandbox(row), envdAccessToken: this.openToken(row.envd_token_sealed) };
  }

  /**
   * Tokens never change, so opened ones are kept (bounded): the proxy and signed-URL matching
   * would otherwise decrypt on every request.
   */
  private readonly openedTokens = new Map<string, string>();

  private openToken(sealed: string): string {
    let token = this.openedTokens.get(sealed);
    if (token === undefined) {
      token = this.o.cipher.open(sealed);
      if (this.openedTokens.size >= 10_000) this.openedTokens.clear();
      this.openedTokens.set(sealed, token);
    }
    return token;
  }

  private clientFor(row: SandboxRow): HostClient {
    if (!row.host_id) throw invalidState(`sandbox ${row.id} is not placed on a host`);
    return this.o.registry.client(row.host_id);
  }

  private actorFields(
    actor: Actor,
    row?: SandboxRow,
  ): Pick<AuditEvent, "actor" | "ownerId" | "apiKeyId"> {
    if (actor.actor === "api") {
      return { actor: "api", ownerId: actor.principal.ownerId, apiKeyId: actor.principal.keyId };
    }
    return { actor: actor.actor, ownerId: row?.owner_id ?? null, apiKeyId: null };
  }

  /**
   * E2B clients do not retry, so an operation arriving mid-transition waits for it briefly.
   * Returns the row as last seen.
   */
  private async waitWhileInFlight(ownerId: string, id: string): Promise<SandboxRow | null> {
    const deadline = Date.now() + this.settleTimeoutMs;
    for (;;) {
      const row = await findSandbox(this.o.db, id, ownerId);
      if (!row || !["starting", "pausing", "resuming"].includes(row.state)) return row;
      if (Date.now() >= deadline) return row;
      await sleep(100);
    }
  }

  /** Explains why a guarded update matched nothing. */
  private async whyNot(ownerId: string, id: string, operation: string): Promise<ServiceError> {
    const row = await findSandbox(this.o.db, id, ownerId);
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
