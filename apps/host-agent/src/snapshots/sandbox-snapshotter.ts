import { access, rm } from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command/run-command.js";
import type { RuntimeDriver } from "../runtime/driver.js";
import { AgentError } from "../sandboxes/errors.js";
import type { Instance } from "../sandboxes/instance.js";
import type { SandboxManager, SandboxView } from "../sandboxes/sandbox-manager.js";
import type { SnapshotPublisher } from "./snapshot-publisher.js";
import type { SnapshotMeta, SnapshotStore } from "./snapshot-store.js";

/** A snapshot of this host, checked to restore here (SandboxSnapshotter.artifact). */
export interface SnapshotArtifact {
  meta: SnapshotMeta;
  checkpointDir: string;
  diskImage: string;
}

/**
 * A paused (checkpointed) sandbox's checkpoint and a consistent copy of its disk, as
 * dir/checkpoint and dir/disk.img: the files of a snapshot and of a hibernated sandbox.
 */
export async function stageSandbox(inst: Instance, dir: string): Promise<void> {
  await runCommand("cp", [
    "-a",
    "--reflink=auto",
    inst.checkpointDir,
    path.join(dir, "checkpoint"),
  ]);
  await inst.disk.copyImageTo(path.join(dir, "disk.img"));
}

/** What a staged sandbox needs to run again, besides its files (SnapshotMeta less its ids). */
export function restorableMeta(
  inst: Instance,
  runtimeIdentity: string,
): Omit<SnapshotMeta, "snapshotId" | "createdAt" | "sizeBytes"> {
  const r = inst.record;
  return {
    sourceSandboxId: r.sandboxId ?? "",
    template: r.template,
    resources: r.resources,
    envdVersion: r.envdVersion,
    tmpOnDisk: r.tmpOnDisk === true,
    ...(r.mounts ? { mounts: r.mounts } : {}),
    ...(r.envdAccessToken ? { envdAccessToken: r.envdAccessToken } : {}),
    runtimeIdentity,
  };
}

/**
 * Takes snapshots of running sandboxes: the sandbox is checkpointed (its ordinary pause), the
 * checkpoint and a frozen copy of its disk become an artifact, and the sandbox is restored in
 * place from its own checkpoint, so it keeps its id, address, token and processes.
 *
 * The runsc of this host has `checkpoint --leave-running`, but it restarts the container
 * itself, outside the network-namespace start-up this agent wraps every runsc launch in; the
 * agent's own pause and resume are the tested path, and cost about the same.
 */
export class SandboxSnapshotter {
  constructor(
    private readonly manager: SandboxManager,
    private readonly store: SnapshotStore,
    private readonly runtime: Pick<RuntimeDriver, "identity" | "restoreRefusal">,
    /** With a shared store: snapshots go there too, and come from there when not here. */
    private readonly publisher?: SnapshotPublisher,
  ) {}

  async take(
    sandboxId: string,
    snapshotId: string,
  ): Promise<{ meta: SnapshotMeta; stored: boolean; sandbox: SandboxView }> {
    if (await this.store.get(snapshotId)) {
      throw new AgentError(
        "already_exists",
        `snapshot ${snapshotId} already exists`,
        "already_exists",
      );
    }
    const before = this.manager.get(sandboxId);
    if (before.phase !== "running") {
      throw new AgentError(
        "failed_precondition",
        `sandbox ${sandboxId} is ${before.phase}; only a running sandbox can be snapshotted`,
        "sandbox_not_running",
      );
    }
    const paused = await this.manager.pause(sandboxId, "checkpoint");
    if (paused.phase !== "paused") {
      // The pause kept it in memory: it holds TCP connections this runtime cannot save.
      await this.manager.resume(sandboxId);
      throw new AgentError(
        "failed_precondition",
        `sandbox ${sandboxId} has open TCP connections or listening sockets, which this runtime cannot save; close them and try again`,
        "invalid_state",
      );
    }
    let meta: SnapshotMeta | undefined;
    let failure: unknown;
    const scratch = await this.store.scratch(snapshotId);
    try {
      const inst = this.manager.instanceOf(sandboxId);
      await stageSandbox(inst, scratch);
      meta = await this.store.commit(snapshotId, scratch, {
        ...restorableMeta(inst, this.runtime.identity),
        snapshotId,
        createdAt: new Date().toISOString(),
      });
    } catch (err) {
      failure = err;
      await rm(scratch, { recursive: true, force: true });
    }
    // The source runs again whatever became of the copy.
    const sandbox = await this.manager.resume(sandboxId);
    if (!meta) {
      throw new AgentError("internal", `snapshot failed: ${(failure as Error).message}`);
    }
    // After the source runs again: its pause does not wait for the store.
    const published = await this.publisher?.publish(meta);
    return { meta, stored: published?.stored === true, sandbox };
  }

  /**
   * The artifact a new sandbox restores, checked for this host: it exists, its runtime build
   * is this one, and the template version it overlays is still installed.
   */
  async artifact(snapshotId: string): Promise<SnapshotArtifact> {
    if (this.publisher && !(await this.store.get(snapshotId))) {
      await this.publisher.fetch(snapshotId);
    }
    const meta = await this.held(snapshotId);
    const checkpointDir = this.store.checkpointDir(snapshotId);
    const refusal = await this.runtime.restoreRefusal(checkpointDir);
    if (refusal) {
      throw new AgentError(
        "failed_precondition",
        `snapshot ${snapshotId}: ${refusal}`,
        "snapshot_incompatible",
      );
    }
    try {
      await access(meta.template.rootfs);
    } catch {
      throw new AgentError(
        "failed_precondition",
        `snapshot ${snapshotId} overlays template ${meta.template.name} version ${meta.template.version}, which is no longer installed on this host`,
        "snapshot_incompatible",
      );
    }
    return {
      meta,
      checkpointDir,
      diskImage: this.store.diskImage(snapshotId),
    };
  }

  /** The metadata of a snapshot this host holds; snapshot_not_found if it holds none. */
  private async held(snapshotId: string): Promise<SnapshotMeta> {
    const meta = await this.store.get(snapshotId);
    if (!meta) {
      throw new AgentError(
        "not_found",
        `snapshot ${snapshotId} is not on this host`,
        "snapshot_not_found",
      );
    }
    return meta;
  }

  /** A snapshot this host holds, and whether it is on the shared store yet; not_found if none. */
  async describe(snapshotId: string): Promise<{ meta: SnapshotMeta; stored: boolean }> {
    const meta = await this.held(snapshotId);
    return { meta, stored: (await this.publisher?.isStored(snapshotId)) === true };
  }

  async remove(snapshotId: string): Promise<void> {
    await this.store.remove(snapshotId);
    await this.publisher?.remove(snapshotId);
  }
}
