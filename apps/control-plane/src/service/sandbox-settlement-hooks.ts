import type { AgentSandbox, HostClient } from "../hosts/host-client.js";
import { type SandboxChange, type SandboxRecord, updateSandbox } from "../store/sandbox-store.js";
import { describe, SEMVER, type ServiceCore } from "./sandbox-service-core.js";
import type { SettleOutcome } from "./sandbox-service-types.js";
import { settle } from "./sandbox-settle.js";
import { runDestroy, runPause } from "./sandbox-transitions.js";
import { IN_FLIGHT_STATES } from "./sandbox-types.js";

// What the lifecycle manager and the reconciler call: expiry, stuck operations, and settling a
// row with what its host reports. The API never calls these.

// ---------------------------------------------------------------- lifecycle hooks

/** Acts on a row the lifecycle manager claimed at its end time (now pausing or stopping). */
export async function finishExpiry(core: ServiceCore, row: SandboxRecord): Promise<void> {
  if (row.state === "stopping") return runDestroy(core, row, { actor: "lifecycle" });
  if (row.state !== "pausing") return;
  try {
    await runPause(core, row, { actor: "lifecycle" });
  } catch (error) {
    // The sandbox went back to running (or error); try again a little later, not every tick.
    core.options.logger.warn(
      { sandboxId: row.id, err: describe(error) },
      "auto-pause failed; retrying in 30 s",
    );
    await updateSandbox(core.options.db, { id: row.id, states: ["running"] }, { endInSeconds: 30 });
  }
}

/** Resolves a row whose operation overran its deadline (a crashed or hung control plane). */
export async function settleStuck(core: ServiceCore, row: SandboxRecord): Promise<void> {
  if (row.state === "stopping") return runDestroy(core, row, { actor: "lifecycle" });
  if (!row.hostId) {
    await updateSandbox(
      core.options.db,
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
  await settleWithHost(core, row, core.options.registry.client(row.hostId));
}

/**
 * Brings one row in line with what its host reports (see settle()). Used after a failed
 * operation and for stuck rows; if the host cannot be asked, the row is left for a later pass.
 */
export async function settleWithHost(
  core: ServiceCore,
  row: SandboxRecord,
  client: HostClient,
): Promise<SettleOutcome | null> {
  let agent: AgentSandbox | null;
  try {
    agent = await client.getSandbox(row.id);
  } catch (error) {
    core.options.logger.warn(
      { sandboxId: row.id, err: describe(error) },
      "cannot ask the host about a sandbox",
    );
    return null;
  }
  return applySettlement(core, row, agent, client, undefined, "lifecycle");
}

/**
 * Applies settle() to one row. `unchangedSince` makes the update conditional on the state not
 * having moved since then (reconciliation compares against an earlier listing).
 */
export async function applySettlement(
  core: ServiceCore,
  row: SandboxRecord,
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
      core.options.logger.warn(
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
        core.options.db,
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
    change.endInSeconds = row.timeoutSeconds;
  const updated = await updateSandbox(
    core.options.db,
    { id: row.id, states: [row.state], unchangedSince },
    change,
  );
  if (updated) {
    core.options.logger.info(
      { sandboxId: row.id, from: row.state, to: decision.to },
      "sandbox state settled from its host",
    );
    await core.options.audit.record({
      actor,
      ownerId: row.ownerId,
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
