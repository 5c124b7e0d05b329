import { checkTimeout } from "@wrenn/contract";
import { type HostClient, HostError } from "../hosts/host-client.js";
import { lockKey } from "../store/api-key-store.js";
import type { AuditEvent } from "../store/audit-store.js";
import {
  findSandbox,
  type SandboxRecord,
  toSandbox,
  updateSandbox,
} from "../store/sandbox-store.js";
import { ServiceError, sandboxNotFound, validated } from "./errors.js";
import { fromHostError } from "./host-refusal.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";
import { enforcePools } from "./quota.js";
import { runRestoreHibernated } from "./sandbox-hibernation.js";
import { describe, type ServiceCore } from "./sandbox-service-core.js";
import type { Actor, SandboxChangeOptions } from "./sandbox-service-types.js";
import { settleWithHost } from "./sandbox-settlement-hooks.js";
import {
  IN_FLIGHT_STATES,
  type OwnedSandbox,
  ownerScope,
  type Principal,
  SANDBOX_STATES,
  type Sandbox,
  SUSPENDED_STATES,
} from "./sandbox-types.js";

// Destroy, pause and resume: the transitions a caller asks for, each a compare-and-set on the
// row's state, then the host call, then the outcome recorded.

const NOT_STOPPED = SANDBOX_STATES.filter((s) => s !== "stopped");

// ---------------------------------------------------------------- destroy

/**
 * Idempotent: destroying a stopped sandbox reports alreadyStopped instead of failing. A
 * workspace's sandbox is refused unless its workspace (or an admin's page) asks.
 */
export async function destroySandbox(
  core: ServiceCore,
  principal: Principal,
  id: string,
  options: SandboxChangeOptions = {},
): Promise<{ alreadyStopped: boolean }> {
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  if (!options.ofWorkspace) await core.refuseWorkspaceSandbox(principal, id);
  const row = await updateSandbox(
    core.options.db,
    { id, ownerId: ownerScope(principal), states: NOT_STOPPED },
    { state: "stopping", stopReason: "destroyed", opDeadlineSeconds: core.deadlines.stop },
  );
  if (!row) {
    if (!(await core.owned(principal, id))) throw sandboxNotFound(id);
    return { alreadyStopped: true };
  }
  await runDestroy(core, row, { actor: "api", principal });
  return { alreadyStopped: false };
}

/**
 * Finishes a destroy the row is already committed to (state stopping). If the host cannot be
 * reached the row stays stopping and the lifecycle manager retries after its deadline: the
 * intent is durable, so the caller is not told to retry.
 */
export async function runDestroy(
  core: ServiceCore,
  row: SandboxRecord,
  actor: Actor,
): Promise<void> {
  const began = performance.now();
  const event: AuditEvent = {
    ...core.actorFields(actor, row),
    action: "sandbox.destroy",
    sandboxId: row.id,
    outcome: "ok",
  };
  if (row.hostId) {
    try {
      await core.options.registry.client(row.hostId).destroySandbox(row.id);
    } catch (error) {
      core.options.logger.warn(
        { sandboxId: row.id, err: describe(error) },
        "destroy deferred; will retry",
      );
      await core.options.audit.record({
        ...event,
        outcome: "deferred",
        durationMs: performance.now() - began,
        detail: { error: describe(error) },
      });
      return;
    }
  }
  await updateSandbox(
    core.options.db,
    { id: row.id, states: ["stopping"] },
    { state: "stopped", opDeadlineSeconds: null },
  );
  await core.options.audit.record({ ...event, durationMs: performance.now() - began });
}

/**
 * Runs an operation on a host and audits it. On the sandbox's own host (the default) a failure
 * also settles the row with what the host then reports; `elsewhere` runs it on a host the call
 * picks itself (a hibernated sandbox's resume), where there is nothing to settle against. The
 * error is raised as the service's code.
 */
export async function onHost<T>(
  core: ServiceCore,
  row: SandboxRecord,
  actor: Actor,
  operation: "pause" | "resume" | "hibernate",
  call: (client: HostClient) => Promise<T>,
  elsewhere?: () => Promise<T>,
): Promise<{ began: number; event: AuditEvent; result: T }> {
  const began = performance.now();
  const event: AuditEvent = {
    ...core.actorFields(actor, row),
    action: `sandbox.${operation}`,
    sandboxId: row.id,
    outcome: "ok",
  };
  const client = elsewhere ? undefined : core.clientFor(row);
  try {
    return {
      began,
      event,
      result: await (client ? call(client) : (elsewhere as () => Promise<T>)()),
    };
  } catch (error) {
    await core.options.audit.record({
      ...event,
      outcome: "error",
      durationMs: performance.now() - began,
      detail: { error: describe(error) },
    });
    if (client) await settleWithHost(core, row, client);
    if (error instanceof HostError) throw fromHostError(error, `${operation} the sandbox`);
    throw error;
  }
}

// ---------------------------------------------------------------- pause

export async function pauseSandbox(
  core: ServiceCore,
  principal: Principal,
  id: string,
): Promise<Sandbox> {
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  await core.waitWhileInFlight(ownerScope(principal), id);
  const row = await updateSandbox(
    core.options.db,
    { id, ownerId: ownerScope(principal), states: ["running"] },
    { state: "pausing", opDeadlineSeconds: core.deadlines.pause },
  );
  if (!row) throw await core.unmatchedUpdateError(ownerScope(principal), id, "pause");
  return runPause(core, row, { actor: "api", principal });
}

/** Finishes a pause the row is committed to (state pausing). */
export async function runPause(
  core: ServiceCore,
  row: SandboxRecord,
  actor: Actor,
): Promise<Sandbox> {
  return (await runPauseOnHost(core, row, actor)).sandbox;
}

export async function runPauseOnHost(
  core: ServiceCore,
  row: SandboxRecord,
  actor: Actor,
): Promise<{ sandbox: Sandbox; pauseMode?: "checkpoint" | "freeze" }> {
  const { began, event, result } = await onHost(core, row, actor, "pause", (client) =>
    client.pauseSandbox(row.id),
  );
  const { pauseMode } = result;
  const paused = await updateSandbox(
    core.options.db,
    { id: row.id, states: ["pausing"] },
    { state: "paused", opDeadlineSeconds: null },
  );
  await core.options.audit.record({
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
export async function resumeSandbox(
  core: ServiceCore,
  principal: Principal,
  id: string,
  options: { timeoutSeconds?: number; actor?: Actor; hostId?: string } = {},
): Promise<{ sandbox: OwnedSandbox; resumed: boolean }> {
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  const asked =
    options.timeoutSeconds === undefined
      ? undefined
      : validated(() => checkTimeout(options.timeoutSeconds));
  for (let attempt = 0; attempt < 3; attempt++) {
    const seen = await core.waitWhileInFlight(ownerScope(principal), id);
    if (!seen) throw sandboxNotFound(id);
    const timeout = asked ?? seen.timeoutSeconds;
    const extended = await updateSandbox(
      core.options.db,
      { id, ownerId: ownerScope(principal), states: ["running"] },
      { endNoEarlierThanSeconds: timeout },
    );
    if (extended) return { sandbox: core.withToken(extended), resumed: false };

    let hibernated = false;
    const row = await core.options.db.transaction(async (tx) => {
      const current = await findSandbox(tx, id, ownerScope(principal));
      if (!current || !SUSPENDED_STATES.includes(current.state)) return null;
      hibernated = current.state === "hibernated";
      const key = await lockKey(tx, current.apiKeyId);
      if (key) {
        await enforcePools(tx, key, current.resources, { storage: false });
      }
      return updateSandbox(
        tx,
        { id, states: SUSPENDED_STATES },
        { state: "resuming", opDeadlineSeconds: core.deadlines.resume },
      );
    });
    if (row) {
      const actor: Actor = options.actor ?? { actor: "api", principal };
      const sandbox = hibernated
        ? await runRestoreHibernated(core, row, timeout, actor, options.hostId)
        : await runResume(core, row, timeout, actor);
      return { sandbox, resumed: true };
    }
    const current = await core.owned(principal, id);
    // Moved between our two attempts (e.g. a pause finished): look again.
    if (current && (current.state === "running" || IN_FLIGHT_STATES.includes(current.state)))
      continue;
    throw await core.unmatchedUpdateError(ownerScope(principal), id, "resume");
  }
  throw new ServiceError("sandbox_busy", `sandbox ${id} keeps changing state; try again`);
}

export async function runResume(
  core: ServiceCore,
  row: SandboxRecord,
  timeout: number,
  actor: Actor,
): Promise<OwnedSandbox> {
  const { began, event } = await onHost(core, row, actor, "resume", (client) =>
    client.resumeSandbox(row.id),
  );
  const running = await updateSandbox(
    core.options.db,
    { id: row.id, states: ["resuming"] },
    { state: "running", endInSeconds: timeout, opDeadlineSeconds: null },
  );
  await core.options.audit.record({ ...event, durationMs: performance.now() - began });
  if (!running) throw sandboxNotFound(row.id);
  return core.withToken(running);
}
