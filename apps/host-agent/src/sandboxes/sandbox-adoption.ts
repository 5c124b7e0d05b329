import type { SandboxErrorReason } from "@wrenn/contract";
import { Instance } from "./instance.js";
import { DEATH_MESSAGES, dirSize, type ManagerCore } from "./manager-core.js";

// Runs once at agent start: what survived a restart is adopted, what a crash left half-done is
// settled or removed. Apart because it reasons about records and runtime state that no live
// request has touched.

/**
 * Brings back every sandbox that survived an agent restart and removes what a crash left
 * half-done: unfinished creates and destroys, containers without a record, and network
 * pieces of nobody.
 */
export async function adoptSandboxes(core: ManagerCore): Promise<void> {
  await core.snapshots.removePartial();
  const records = await core.records.loadAll();
  const live = new Map((await core.runtime.list()).map((c) => [c.runtimeId, c.status]));
  const keep: string[] = [];
  for (const rec of records) {
    const status = live.get(rec.runtimeId) ?? "absent";
    live.delete(rec.runtimeId);
    const inst = new Instance(rec, core.records.dirOf(rec.runtimeId));
    core.instances.set(rec.runtimeId, inst);
    try {
      const kept = await adoptOne(core, inst, status);
      if (kept) {
        keep.push(rec.runtimeId);
        if (rec.sandboxId) core.bySandbox.set(rec.sandboxId, rec.runtimeId);
      }
    } catch (err) {
      core.log.error({ runtimeId: rec.runtimeId, err: (err as Error).message }, "adoption failed");
      await core.destroyInstance(rec.runtimeId).catch(() => {});
    }
  }
  for (const [runtimeId] of live) {
    core.log.warn({ runtimeId }, "container without a record: stopping it");
    await core.runtime.stop(runtimeId).catch(() => {});
  }
  await core.networks.reconcile(keep);
  core.log.info({ adopted: keep.length }, "adoption finished");
}

export async function adoptOne(
  core: ManagerCore,
  inst: Instance,
  status: string,
): Promise<boolean> {
  const rec = inst.record;
  const dead = (why: string, reason: SandboxErrorReason = "crashed") => {
    rec.error = why;
    rec.errorReason = reason;
    return core.setPhase(inst, "error").then(() => true);
  };
  if (rec.transition === "pausing") return recoverInterruptedPause(core, inst, status, dead);
  switch (rec.phase) {
    case "creating":
    case "destroying":
      await core.destroyInstance(rec.runtimeId);
      return false;
    case "pooled":
    case "running":
    case "frozen": {
      if (status === "absent" || status === "stopped") {
        if (rec.phase === "pooled") {
          await core.destroyInstance(rec.runtimeId);
          return false;
        }
        await inst.disk.mount();
        const reason = await core.runtime.exitReason(rec.runtimeId).catch(() => "crashed" as const);
        return dead(
          `${DEATH_MESSAGES[reason]} while the agent was away; its files are kept`,
          reason,
        );
      }
      inst.lease = await core.networks.setup(rec.runtimeId, rec.network);
      if (status === "paused" && rec.phase !== "frozen") await core.setPhase(inst, "frozen");
      if (rec.phase === "pooled") {
        core.pool.add({ runtimeId: rec.runtimeId, template: rec.template, network: rec.network });
      }
      return true;
    }
    case "paused": {
      await inst.disk.mount();
      inst.lease = await core.networks.setup(rec.runtimeId, rec.network);
      // The runsc may have changed while the agent was away: the state says so at once,
      // and says nothing once a runsc that can restore it is back.
      const refusal = await core.runtime.restoreRefusal(inst.checkpointDir);
      if ((refusal ?? undefined) !== rec.error) {
        rec.error = refusal;
        await core.records.save(rec);
      }
      return true;
    }
    case "error":
      await inst.disk.mount().catch(() => {});
      return true;
  }
}

/**
 * The previous agent died while pausing this sandbox. What is really there decides: a
 * complete checkpoint is a paused sandbox, a container still there is resumed in place
 * (thawed, and envd told to listen again in case it had been quiesced), anything else is an
 * error that says so.
 */
export async function recoverInterruptedPause(
  core: ManagerCore,
  inst: Instance,
  status: string,
  dead: (why: string, reason: SandboxErrorReason) => Promise<boolean>,
): Promise<boolean> {
  const rec = inst.record;
  rec.transition = undefined;
  core.log.warn(
    { sandboxId: rec.sandboxId, status },
    "recovering a pause the agent did not finish",
  );
  await inst.disk.mount();
  if (status === "running" || status === "paused") {
    const lease = await core.networks.setup(rec.runtimeId, rec.network);
    inst.lease = lease;
    await core.runtime.resume(rec.runtimeId, { mode: "interrupted" });
    await core.envdOf(rec.runtimeId).waitHealthy(core.config.healthTimeoutMs);
    await core.setPhase(inst, "running");
    return true;
  }
  if ((await core.runtime.checkpointOutcome(rec.runtimeId, inst.checkpointDir)) === "complete") {
    rec.checkpointBytes = await dirSize(inst.checkpointDir);
    inst.lease = await core.networks.setup(rec.runtimeId, rec.network);
    await core.setPhase(inst, "paused");
    return true;
  }
  return dead(
    "the agent stopped during a pause and no complete checkpoint was left; its files are kept",
    "interrupted",
  );
}
