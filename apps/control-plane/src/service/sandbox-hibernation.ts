import { type SandboxRecord, toSandbox, updateSandbox } from "../store/sandbox-store.js";
import { ServiceError, sandboxNotFound } from "./errors.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";
import type { ServiceCore } from "./sandbox-service-core.js";
import type { Actor } from "./sandbox-service-types.js";
import { onHost } from "./sandbox-transitions.js";
import { type OwnedSandbox, ownerScope, type Principal, type Sandbox } from "./sandbox-types.js";

// Hibernation (docs/hosts.md): a paused sandbox's checkpoint and disk go to the artifact store
// and it leaves its host; a resume brings it to whichever host the scheduler picks.

/**
 * paused → hibernated. The host moves it to the store first; only then does the row change,
 * so a store that fails leaves the sandbox paused where it was (503 store_unavailable).
 */
export async function hibernateSandbox(
  core: ServiceCore,
  principal: Principal,
  id: string,
  actor: Actor = { actor: "api", principal },
): Promise<Sandbox> {
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  const row = await core.waitWhileInFlight(ownerScope(principal), id);
  if (!row) throw sandboxNotFound(id);
  if (row.state === "hibernated") return toSandbox(row);
  if (row.state !== "paused" || !row.hostId) {
    throw new ServiceError(
      "invalid_state",
      `sandbox ${id} is ${row.state}; only a paused sandbox can be hibernated (pause it first)`,
    );
  }
  return runHibernate(core, row, actor);
}

/** Hibernates a paused row (the auto-hibernate pass calls this too). */
export async function runHibernate(
  core: ServiceCore,
  row: SandboxRecord,
  actor: Actor,
): Promise<Sandbox> {
  const { began, event, result } = await onHost(core, row, actor, "hibernate", (client) =>
    client.hibernateSandbox(row.id),
  );
  // The row keeps the host it left: a destroy goes there, whose agent removes the stored copy.
  const hibernated = await updateSandbox(
    core.options.db,
    { id: row.id, states: ["paused"] },
    { state: "hibernated", opDeadlineSeconds: null },
  );
  await core.options.audit.record({
    ...event,
    durationMs: performance.now() - began,
    detail: { storedBytes: result.storedBytes },
  });
  if (!hibernated) throw sandboxNotFound(row.id);
  return toSandbox(hibernated);
}

/**
 * Finishes a resume (row state resuming) of a sandbox that was hibernated: the scheduler picks
 * a host with its template and room (the one it left when that one can take it), which pulls
 * it from the store and runs it. On failure nothing left the store: it is hibernated as before,
 * and may be resumed again. `hostId` pins it to that host (a workspace move's target) instead.
 */
export async function runRestoreHibernated(
  core: ServiceCore,
  row: SandboxRecord,
  timeout: number,
  actor: Actor,
  hostId?: string,
): Promise<OwnedSandbox> {
  const restore = async () => {
    const placement = await core.options.scheduler.place({
      template: row.template,
      resources: row.resources,
      // The host it left (row.hostId is kept while hibernated): with a local-directory store
      // the only one that can read its copy, with a shared one the host whose artifact cache
      // holds it (no download). A pinned host (a move) wins over that preference.
      ...(hostId === undefined ? (row.hostId ? { preferHostId: row.hostId } : {}) : { hostId }),
      sandboxId: row.id,
    });
    await placement.client.restoreHibernatedSandbox(row.id);
    return placement.hostId;
  };
  let done: Awaited<ReturnType<typeof onHost<string>>>;
  try {
    done = await onHost(core, row, actor, "resume", restore, restore);
  } catch (error) {
    await updateSandbox(
      core.options.db,
      { id: row.id, states: ["resuming"] },
      { state: "hibernated", opDeadlineSeconds: null },
    );
    throw error;
  }
  const running = await updateSandbox(
    core.options.db,
    { id: row.id, states: ["resuming"] },
    { state: "running", hostId: done.result, endInSeconds: timeout, opDeadlineSeconds: null },
  );
  await core.options.audit.record({
    ...done.event,
    durationMs: performance.now() - done.began,
    detail: { fromHibernation: true, hostId: done.result },
  });
  if (!running) throw sandboxNotFound(row.id);
  return core.withToken(running);
}
