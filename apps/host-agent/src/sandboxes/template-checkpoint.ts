import { rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { DENY_ALL } from "../network/policy.js";
import { CheckpointBlocked } from "../runtime/driver.js";
import type { ImageConfig } from "../templates/image-config.js";
import { imageEnv } from "../templates/image-config.js";
import type { Instance } from "./instance.js";
import type { ManagerCore } from "./manager-core.js";
import { bootFrom, warmUp } from "./sandbox-boot.js";
import { startTemplateCommand } from "./start-command.js";
import type { TemplateRef } from "./template-snapshots.js";

// The checkpoint sandboxes of a template restore from, and the build's last step: a template
// with a start command is checkpointed with its service up (E2B's semantics), once, so every
// sandbox of it starts with the service already running and the start command never reruns.

/** How long a template checkpoint waits for blockers to clear: past TCP's 60 s TIME_WAIT. */
const TEMPLATE_CHECKPOINT_PATIENCE_MS = 70_000;

/**
 * Without a ready command, how long the build's check waits for the start command to fail
 * early (a typo, a missing binary) before it counts as started.
 */
const START_GRACE_MS = 2_000;

/** Boots the template cold and saves it: later sandboxes of it restore this checkpoint. */
export async function snapshotTemplate(
  core: ManagerCore,
  t: TemplateRef,
  /** The agent is stopping: no more waiting for blockers to clear. */
  signal?: AbortSignal,
): Promise<void> {
  if (!core.runtime.capabilities.checkpoint || (await core.snapshots.get(t))) return;
  if (await core.snapshots.unsaveable(t)) return;
  const inst = await bootFrom(core, t, core.config.defaults, DENY_ALL, undefined);
  try {
    await warmUp(core, inst);
    if (t.image?.startCmd) await startService(core, inst, t.image, 0);
    await saveCheckpoint(core, inst, t, signal);
  } finally {
    await core.destroyInstance(inst.runtimeId);
  }
}

/**
 * The build's `finalize`: the template being built (not current yet) is booted, its start
 * command run and its ready command waited for, as every sandbox of it would; a failure
 * (StartCommandFailed, or the ready command's EnvdError) fails the build. Passed, the sandbox
 * is checkpointed with the service up, when this agent restores templates.
 */
export async function finalizeTemplate(
  core: ManagerCore,
  t: TemplateRef,
  say: (message: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const image = t.image;
  if (!image?.startCmd) return;
  const inst = await bootFrom(core, t, core.config.defaults, DENY_ALL, undefined);
  try {
    await warmUp(core, inst);
    await startService(core, inst, image, START_GRACE_MS);
    say(image.readyCmd ? `ready command passed: ${image.readyCmd}` : "started (no ready command)");
    if (!core.config.templateRestore || !core.runtime.capabilities.checkpoint) return;
    if (signal?.aborted) return;
    try {
      await saveCheckpoint(core, inst, t, signal);
      say("saved with the service up: sandboxes start from here");
    } catch (err) {
      // Not a build failure: sandboxes then run the start command at create.
      say(`not saved (${(err as Error).message}): sandboxes run the start command at create`);
    }
  } finally {
    await core.destroyInstance(inst.runtimeId);
  }
}

/**
 * envd given the image's env, user and workdir (no token: the sandbox's own comes at its
 * create), then the start command and its ready check.
 */
async function startService(
  core: ManagerCore,
  inst: Instance,
  image: ImageConfig,
  graceMs: number,
): Promise<void> {
  const envd = core.envdOf(inst.runtimeId);
  await envd.init({
    envVars: imageEnv(image),
    defaultUser: image.user || "user",
    defaultWorkdir: image.workdir || undefined,
  });
  await startTemplateCommand(envd, image, undefined, graceMs);
}

async function saveCheckpoint(
  core: ManagerCore,
  inst: Instance,
  t: TemplateRef,
  signal?: AbortSignal,
): Promise<void> {
  const started = t.image?.startCmd !== undefined;
  const scratch = await core.snapshots.scratch(t);
  // A fresh boot holds nothing open for long: a socket of the warm-up still closing (TCP's
  // TIME_WAIT lasts 60 s) blocks the save for a while, so it is retried past that before the
  // template goes without a checkpoint (never saved broken).
  const giveUpAt = Date.now() + TEMPLATE_CHECKPOINT_PATIENCE_MS;
  try {
    for (;;) {
      try {
        await core.runtime.suspend(
          inst.runtimeId,
          // The service's listening socket is what the checkpoint is for.
          { mode: "checkpoint", imageDir: scratch, ifUnsafe: "refuse", keepListeners: started },
          core.guest(inst),
        );
        break;
      } catch (err) {
        if (!(err instanceof CheckpointBlocked) || Date.now() >= giveUpAt || signal?.aborted) {
          throw err;
        }
        core.log.info(
          { template: t.name, blockers: err.blockers },
          "template checkpoint waits for open sockets to close",
        );
        await sleep(5_000, undefined, { signal }).catch(() => {});
      }
    }
    // The service's files (written by its start command) must be there at every restore.
    if (started) await inst.disk.copyImageTo(core.snapshots.diskOf(scratch));
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    // A service that could not be saved (it holds connections, or runsc refused it) is not
    // tried again for this version: its sandboxes run the start command at create.
    if (started && !signal?.aborted) {
      await core.snapshots.markUnsaveable(t, (err as Error).message).catch(() => {});
    }
    throw err;
  }
  await core.snapshots.commit(t, scratch);
  core.log.info(
    { template: t.name, version: t.version, serviceUp: started },
    "template checkpoint saved",
  );
}
