import { checkMetadata, checkTemplateName, isSandboxName, LIMITS } from "@wrenn/contract";
import {
  type AgentSandboxStats,
  type ForwardTarget,
  type HostClient,
  HostError,
} from "../hosts/host-client.js";
import { claimRunningOnHostForPause } from "../store/host-sandboxes-store.js";
import {
  endedAmong,
  findSandbox,
  findSandboxByName,
  listSandboxes,
  runningSandboxes,
  type SandboxRecord,
  toSandbox,
} from "../store/sandbox-store.js";
import { countByState } from "../store/sandbox-usage-store.js";
import {
  invalidRequest,
  ServiceError,
  sandboxEnded,
  sandboxNotFound,
  validated,
} from "./errors.js";
import { fromHostError } from "./host-refusal.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import { describe, type ServiceCore } from "./sandbox-service-core.js";
import type {
  ListSandboxesQuery,
  SandboxEndpoint,
  SandboxPage,
  ShutdownPauseReport,
} from "./sandbox-service-types.js";
import { DEFAULT_FAILED_CREATE_VISIBLE_SECONDS } from "./sandbox-service-types.js";
import { runPauseOnHost } from "./sandbox-transitions.js";
import { type OwnedSandbox, ownerScope, type Principal, SANDBOX_STATES } from "./sandbox-types.js";

// Reads, and what the I/O paths and the shutdown need of running sandboxes: nothing here moves
// a sandbox through its states except pauseAllOnHost, which runs the ordinary pause.

// ---------------------------------------------------------------- queries

/**
 * The id a reference names: an id as it is, a name as the owner's sandbox holding it (else the
 * newest that ended with it). The one place names are resolved; every /v1 route with an id
 * in its path, and the /v1 port proxy, call it. Unknown names are sandbox_not_found.
 */
export async function resolveId(
  core: ServiceCore,
  principal: Principal,
  ref: string,
): Promise<string> {
  if (SANDBOX_ID_PATTERN.test(ref) || !isSandboxName(ref)) return ref;
  const row = await findSandboxByName(core.options.db, principal.ownerId, ref);
  if (!row) throw sandboxNotFound(ref);
  return row.id;
}

export async function getSandbox(
  core: ServiceCore,
  principal: Principal,
  id: string,
): Promise<OwnedSandbox> {
  const row = await core.owned(principal, id);
  if (!row) throw sandboxNotFound(id);
  return core.withToken(row);
}

export async function listPage(
  core: ServiceCore,
  principal: Principal,
  query: ListSandboxesQuery,
): Promise<SandboxPage> {
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
  const rows = await listSandboxes(core.options.db, {
    ownerId: ownerScope(principal) ?? query.ownerId,
    states: query.states,
    hideFailedCreatesAfterSeconds: query.hideFailedCreates
      ? (core.options.failedCreateVisibleSeconds ?? DEFAULT_FAILED_CREATE_VISIBLE_SECONDS)
      : undefined,
    metadata:
      query.metadata === undefined ? undefined : validated(() => checkMetadata(query.metadata)),
    template:
      query.template === undefined ? undefined : validated(() => checkTemplateName(query.template)),
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
      rows.length > limit && last ? encodeCursor({ startedAt: last.startedAt, id: last.id }) : null,
  };
}

/** Current usage figures from the host; null when the sandbox is not running. */
export async function sandboxStats(
  core: ServiceCore,
  principal: Principal,
  id: string,
): Promise<AgentSandboxStats | null> {
  const row = await core.owned(principal, id);
  if (!row) throw sandboxNotFound(id);
  if (row.state === "stopped") throw sandboxEnded(row);
  if (row.state !== "running" || !row.hostId) return null;
  try {
    return await core.options.registry.client(row.hostId).sandboxStats(id);
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
export async function forwardTarget(
  core: ServiceCore,
  principal: Principal | null,
  id: string,
  port: number,
): Promise<ForwardTarget> {
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw invalidRequest("port must be 1-65535");
  return (await endpoint(core, principal, id)).client.forwardTarget(id, port);
}

/**
 * A running sandbox of the principal (of anyone without one): 404 when it does not exist or
 * is another owner's, 409 sandbox_not_running when it exists but is not running.
 */
export async function endpoint(
  core: ServiceCore,
  principal: Principal | null,
  id: string,
): Promise<SandboxEndpoint> {
  const row = SANDBOX_ID_PATTERN.test(id)
    ? await runningRowFirst(core, id, principal ? ownerScope(principal) : undefined)
    : null;
  if (!row) throw sandboxNotFound(id);
  if (row.state === "stopped") throw sandboxEnded(row);
  if (row.state === "error") {
    // Its processes are gone: nothing can run or serve files in it any more.
    throw new ServiceError(
      "sandbox_failed",
      `sandbox ${id} failed (${row.errorReason ?? "failed"}): ${row.error ?? "no detail"}. Its processes are gone; delete it to free its resources`,
    );
  }
  if (row.state !== "running" || !row.hostId) {
    throw new ServiceError("sandbox_not_running", `sandbox ${id} is ${row.state}, not running`);
  }
  return {
    id: row.id,
    ownerId: row.ownerId,
    apiKeyId: row.apiKeyId,
    hostId: row.hostId,
    client: core.options.registry.client(row.hostId),
    ...core.tokensOf(row),
  };
}

/**
 * The sandbox's row for `endpoint`, from the endpoint cache while it is running (any write to
 * it drops the entry), else from the database. The owner check is the query's own, applied to
 * the cached row.
 */
async function runningRowFirst(
  core: ServiceCore,
  id: string,
  ownerId: string | undefined,
): Promise<SandboxRecord | null> {
  const cached = core.endpoints.get(id);
  if (cached) return ownerId === undefined || cached.ownerId === ownerId ? cached : null;
  const mark = core.endpoints.mark();
  const row = await findSandbox(core.options.db, id);
  if (row) core.endpoints.put(row, mark);
  return row && (ownerId === undefined || row.ownerId === ownerId) ? row : null;
}

/**
 * The host holding a failed sandbox's disk, for reading its files (404 for a sandbox that is
 * not the principal's or is destroyed; 409 for one in another state, whose files envd serves).
 */
export async function failedSandboxHost(
  core: ServiceCore,
  principal: Principal | null,
  id: string,
): Promise<{ id: string; hostId: string; client: HostClient }> {
  const row = SANDBOX_ID_PATTERN.test(id)
    ? await findSandbox(core.options.db, id, principal ? ownerScope(principal) : undefined)
    : null;
  if (!row) throw sandboxNotFound(id);
  if (row.state === "stopped") throw sandboxEnded(row);
  if (row.state !== "error") {
    throw new ServiceError(
      "sandbox_not_running",
      `sandbox ${id} is ${row.state}: only a failed sandbox's disk is read without envd`,
    );
  }
  if (!row.hostId) {
    throw new ServiceError("files_unavailable", `sandbox ${id} failed before it had a disk`);
  }
  return { id: row.id, hostId: row.hostId, client: core.options.registry.client(row.hostId) };
}

/**
 * Usage figures of every running sandbox on the hosts this control plane serves, for the
 * admin UI's metrics history; a sandbox whose host does not answer is left out (it may have
 * just stopped). At most `concurrency` host calls are in flight at once.
 */
export async function runningStats(
  core: ServiceCore,
  concurrency = 8,
): Promise<{ id: string; stats: AgentSandboxStats }[]> {
  const rows = (await runningSandboxes(core.options.db)).filter((r) => r.hostId !== null);
  const out: { id: string; stats: AgentSandboxStats }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++]!;
      let client: HostClient;
      try {
        client = core.options.registry.client(row.hostId!);
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
export function countsByState(core: ServiceCore): Promise<Record<string, number>> {
  return countByState(core.options.db);
}

/** Of these sandbox ids, those that have ended (stopped) or do not exist. */
export function ended(core: ServiceCore, ids: readonly string[]): Promise<string[]> {
  return endedAmong(core.options.db, ids);
}

/** Every running sandbox with its envd token, to match signed /files URLs against. */
export async function runningEndpoints(core: ServiceCore): Promise<SandboxEndpoint[]> {
  const rows = await runningSandboxes(core.options.db);
  const out: SandboxEndpoint[] = [];
  for (const row of rows) {
    if (!row.hostId) continue;
    let client: HostClient;
    try {
      client = core.options.registry.client(row.hostId);
    } catch {
      continue; // a host another control plane serves
    }
    out.push({
      id: row.id,
      ownerId: row.ownerId,
      apiKeyId: row.apiKeyId,
      hostId: row.hostId,
      client,
      ...core.tokensOf(row),
    });
  }
  return out;
}

/**
 * Pauses every running sandbox of a host, for a local stack that is shutting down: a
 * checkpointed sandbox leaves no process behind and resumes at the next start.
 */
export async function pauseAllOnHost(
  core: ServiceCore,
  hostId: string,
): Promise<ShutdownPauseReport> {
  const report: ShutdownPauseReport = { checkpointed: [], frozen: [], failed: [] };
  const rows = await claimRunningOnHostForPause(core.options.db, hostId, core.deadlines.pause);
  for (const row of rows) {
    try {
      const { pauseMode } = await runPauseOnHost(core, row, { actor: "system" });
      (pauseMode === "freeze" ? report.frozen : report.checkpointed).push(row.id);
    } catch (error) {
      report.failed.push({ id: row.id, error: describe(error) });
    }
  }
  return report;
}
