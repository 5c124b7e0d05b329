import type { Instance } from "./instance.js";
import { DEATH_MESSAGES, type ManagerCore } from "./manager-core.js";

// One liveness check of one sandbox, run by SandboxManager.watch on a timer: a sandbox that
// died on its own (OOM, task limit) becomes an error that says why.

export async function checkLiveness(core: ManagerCore, inst: Instance): Promise<void> {
  const phase = inst.record.phase;
  if (phase !== "running" && phase !== "frozen" && phase !== "pooled") return;
  // An operation in progress (a pause stops the sandbox's process on purpose) settles it.
  if (core.lock.busy(inst.runtimeId)) return;
  if (await core.runtime.alive(inst.runtimeId)) return;
  await core.lock.run(inst.runtimeId, async () => {
    // An operation may have finished since: ask again.
    if (inst.record.phase !== phase) return;
    const now = await core.runtime.status(inst.runtimeId);
    if (now === "running" || now === "paused") return;
    if (phase === "pooled") {
      core.log.warn({ runtimeId: inst.runtimeId }, "pooled sandbox died; replacing it");
      core.pool.remove(inst.runtimeId);
      await core.destroyInstance(inst.runtimeId);
      core.pool.kick();
      return;
    }
    const reason = await core.runtime.exitReason(inst.runtimeId).catch(() => "crashed" as const);
    inst.record.errorReason = reason;
    inst.record.error = `${DEATH_MESSAGES[reason]}; its files are kept`;
    core.log.warn({ sandboxId: inst.record.sandboxId, reason }, inst.record.error);
    await core.setPhase(inst, "error");
    core.stateVersion++;
  });
}
