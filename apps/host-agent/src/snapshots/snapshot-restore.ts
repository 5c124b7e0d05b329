import { AgentError } from "../sandboxes/errors.js";
import type { ManagerCore } from "../sandboxes/manager-core.js";
import type { CreateRequest, SandboxView } from "../sandboxes/manager-types.js";
import { resolveMounts } from "../sandboxes/mounts.js";
import { bootFrom, checkNewSandboxId, handToOwner } from "../sandboxes/sandbox-boot.js";
import type { SnapshotArtifact } from "./sandbox-snapshotter.js";

/**
 * A new sandbox from a snapshot: the snapshot's disk copied, its checkpoint restored into a
 * network of its own, then /init with the token the snapshot's envd holds gives it the
 * caller's token and identity. Its template, resources and mounts are the snapshot's.
 */
export async function restoreSnapshot(
  core: ManagerCore,
  req: CreateRequest,
  snap: SnapshotArtifact,
): Promise<SandboxView> {
  checkNewSandboxId(core, req.sandboxId);
  const { meta } = snap;
  // The stored host paths are checked again, as a create's are: a path may have become a
  // symlink out of the roots since, the roots may have shrunk, and the meta file is the disk's.
  const mounts = await resolveMounts(meta.mounts ?? [], core.config.mountRoots);
  // Reserve the id at once so a concurrent create of the same id fails fast.
  core.bySandbox.set(req.sandboxId, "");
  const started = performance.now();
  try {
    const inst = await bootFrom(
      core,
      meta.template,
      meta.resources,
      req.network,
      snap.checkpointDir,
      { mounts, diskFrom: snap.diskImage },
    );
    inst.record.envdVersion = meta.envdVersion;
    try {
      await handToOwner(core, inst, req, "snapshot_restore", meta.envdAccessToken);
    } catch (err) {
      await core.destroyInstance(inst.runtimeId).catch(() => {});
      throw err;
    }
    core.bySandbox.set(req.sandboxId, inst.runtimeId);
    core.observer.created("snapshot_restore", (performance.now() - started) / 1000);
    core.log.info(
      { sandboxId: req.sandboxId, snapshotId: meta.snapshotId, runtimeId: inst.runtimeId },
      "sandbox restored from a snapshot",
    );
    return core.view(inst);
  } catch (err) {
    core.bySandbox.delete(req.sandboxId);
    throw err instanceof AgentError ? err : new AgentError("internal", (err as Error).message);
  }
}
