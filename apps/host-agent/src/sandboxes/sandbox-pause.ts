import { rm } from "node:fs/promises";
import { CheckpointError, type SuspendOutcome } from "../runtime/driver.js";
import { installEgressCa } from "./egress-ca-install.js";
import { AgentError } from "./errors.js";
import type { Instance } from "./instance.js";
import { dirSize, type ManagerCore } from "./manager-core.js";
import type { SandboxView } from "./manager-types.js";

// Pause (checkpoint to disk when safe, freeze in memory otherwise) and resume: the transitions
// of a sandbox that already exists, each under the sandbox's lock.

export function pauseSandbox(
  core: ManagerCore,
  sandboxId: string,
  mode: "checkpoint" | "freeze",
): Promise<SandboxView> {
  const inst = core.bySandboxId(sandboxId);
  return core.lock.run(inst.runtimeId, async () => {
    const phase = inst.record.phase;
    if (phase === "paused" || phase === "frozen") {
      throw new AgentError("failed_precondition", `sandbox ${sandboxId} is already paused`);
    }
    if (phase !== "running") {
      throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${phase}`);
    }
    const started = performance.now();
    let used: "checkpoint" | "freeze" = mode;
    inst.record.transition = "pausing";
    await core.records.save(inst.record);
    try {
      used = await pauseLocked(core, inst, mode);
    } finally {
      if (inst.record.transition === "pausing") {
        inst.record.transition = undefined;
        await core.records.save(inst.record);
      }
    }
    core.observer.paused(used, (performance.now() - started) / 1000);
    return core.view(inst);
  });
}

export async function pauseLocked(
  core: ManagerCore,
  inst: Instance,
  mode: "checkpoint" | "freeze",
): Promise<"checkpoint" | "freeze"> {
  const sandboxId = inst.record.sandboxId;
  // A runtime that cannot save pauses in memory, as a sandbox with open connections does.
  const asked = mode === "checkpoint" && !core.runtime.capabilities.checkpoint ? "freeze" : mode;
  let outcome: SuspendOutcome;
  try {
    outcome = await core.runtime.suspend(
      inst.runtimeId,
      asked === "checkpoint"
        ? { mode: "checkpoint", imageDir: inst.checkpointDir, ifUnsafe: "freeze" }
        : { mode: "freeze" },
      core.guest(inst),
    );
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    inst.record.error = `checkpoint failed: ${err.message}`;
    inst.record.errorReason = "failed";
    inst.record.transition = undefined;
    await core.setPhase(inst, "error");
    throw new AgentError("internal", inst.record.error);
  }
  inst.record.transition = undefined;
  if (outcome.mode === "checkpoint") {
    inst.record.checkpointBytes = await dirSize(inst.checkpointDir);
    core.envdOf(inst.runtimeId).close();
    inst.envd = undefined;
    await core.setPhase(inst, "paused");
    return "checkpoint";
  }
  if (asked === "checkpoint") {
    // Saving would have failed and killed the sandbox: it stays in memory; say why.
    core.log.info(
      { sandboxId, blockers: outcome.blockers },
      "TCP endpoints open: pausing in memory instead",
    );
    inst.record.error = undefined;
  }
  await core.setPhase(inst, "frozen");
  return "freeze";
}

export function resumeSandbox(core: ManagerCore, sandboxId: string): Promise<SandboxView> {
  const inst = core.bySandboxId(sandboxId);
  return core.lock.run(inst.runtimeId, async () => {
    const started = performance.now();
    const phase = inst.record.phase;
    if (phase === "running") return core.view(inst);
    if (phase === "frozen") {
      await core.runtime.resume(inst.runtimeId, { mode: "freeze" });
    } else if (phase === "paused") {
      // A checkpoint of another runsc build must not be restored: refuse, and say why in
      // the sandbox's state (the checkpoint and the files stay for a host that can).
      const refusal = await core.runtime.restoreRefusal(inst.checkpointDir);
      if (refusal) {
        if (inst.record.error !== refusal) {
          inst.record.error = refusal;
          await core.records.save(inst.record);
        }
        throw new AgentError("failed_precondition", `sandbox ${sandboxId}: ${refusal}`);
      }
      await inst.disk.mount();
      const lease = await core.networks.setup(inst.runtimeId, inst.record.network);
      inst.lease = lease;
      await core.networks.restoreAddress(inst.runtimeId);
      await core.runtime.resume(inst.runtimeId, {
        mode: "checkpoint",
        spec: inst.spec(lease.netnsPath, core.config.pidsLimit),
        imageDir: inst.checkpointDir,
      });
      await core.envdOf(inst.runtimeId).waitHealthy(core.config.healthTimeoutMs);
      // The network was rebuilt, and with it the egress CA (or rules came while paused).
      await installEgressCa(core, inst);
      await rm(inst.checkpointDir, { recursive: true, force: true });
      inst.record.checkpointBytes = undefined;
      inst.record.error = undefined;
    } else {
      throw new AgentError(
        "failed_precondition",
        `sandbox ${sandboxId} is ${phase}; it cannot be resumed`,
      );
    }
    await core.setPhase(inst, "running");
    core.observer.resumed((performance.now() - started) / 1000);
    return core.view(inst);
  });
}
