import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { isSnapshotId } from "@wrenn/contract";
import type { SandboxMount } from "../sandboxes/mounts.js";
import type { Resources } from "../sandboxes/record.js";
import type { TemplateRef } from "../sandboxes/template-snapshots.js";

/**
 * What a snapshot needs to become a sandbox again, beside its checkpoint and disk. Everything
 * here is host-independent except the template's rootfs path, which a host that holds the
 * template resolves the same way (templates live under the agent's data dir).
 */
export interface SnapshotMeta {
  snapshotId: string;
  sourceSandboxId: string;
  template: TemplateRef;
  resources: Resources;
  envdVersion: string;
  tmpOnDisk: boolean;
  mounts?: SandboxMount[];
  /**
   * envd's token inside the saved memory: a sandbox restored from it presents this one to
   * /init to be given its own. The artifact is root-only, as the sandbox records are.
   */
  envdAccessToken?: string;
  /** The runtime build that took the checkpoint (the checkpoint's own identity file says so too). */
  runtimeIdentity: string;
  createdAt: string;
  sizeBytes: number;
}

/**
 * Snapshots of sandboxes on this host, one artifact directory each:
 *
 *   <root>/<snapshotId>/checkpoint/     the runtime's checkpoint image (memory, processes)
 *   <root>/<snapshotId>/disk.img        the sandbox's disk (ext4 image of its overlay upper)
 *   <root>/<snapshotId>/snapshot.json   SnapshotMeta
 *
 * The shape is a directory of plain files so a remote store can carry it as it is; this is the
 * local one. An artifact appears in one rename, after its files are complete.
 */
export class SnapshotStore {
  constructor(readonly root: string) {}

  dir(snapshotId: string): string {
    // The id comes from the control plane: never let it name a path outside root.
    if (!isSnapshotId(snapshotId)) throw new Error(`not a snapshot id: ${snapshotId}`);
    return path.join(this.root, snapshotId);
  }

  checkpointDir(snapshotId: string): string {
    return path.join(this.dir(snapshotId), "checkpoint");
  }

  diskImage(snapshotId: string): string {
    return path.join(this.dir(snapshotId), "disk.img");
  }

  /** The snapshot's metadata, or undefined when this host does not hold it (complete). */
  async get(snapshotId: string): Promise<SnapshotMeta | undefined> {
    try {
      return JSON.parse(
        await readFile(path.join(this.dir(snapshotId), "snapshot.json"), "utf8"),
      ) as SnapshotMeta;
    } catch {
      return undefined;
    }
  }

  /** Where a download of the snapshot is unpacked (not created); `commit` moves it into place. */
  downloadDir(snapshotId: string): string {
    return `${this.dir(snapshotId)}.partial-download-${process.pid}-${Date.now()}`;
  }

  /** A scratch directory for a snapshot being taken; `commit` moves it into place. */
  async scratch(snapshotId: string): Promise<string> {
    const dir = `${this.dir(snapshotId)}.partial-${process.pid}`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async commit(
    snapshotId: string,
    scratch: string,
    meta: Omit<SnapshotMeta, "sizeBytes">,
  ): Promise<SnapshotMeta> {
    const full: SnapshotMeta = { ...meta, sizeBytes: await allocatedBytes(scratch) };
    await writeFile(path.join(scratch, "snapshot.json"), JSON.stringify(full), { mode: 0o600 });
    await rm(this.dir(snapshotId), { recursive: true, force: true });
    await rename(scratch, this.dir(snapshotId));
    return full;
  }

  /** Idempotent. */
  async remove(snapshotId: string): Promise<void> {
    await rm(this.dir(snapshotId), { recursive: true, force: true });
  }

  /** Scratch directories of snapshots a crash interrupted. */
  async removePartial(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const partial = (await readdir(this.root)).filter((n) => n.includes(".partial-"));
    await Promise.all(partial.map((n) => rm(path.join(this.root, n), { recursive: true })));
  }
}

/** Bytes the files under dir really occupy (the disk image is sparse). */
async function allocatedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? await allocatedBytes(p) : (await stat(p)).blocks * 512;
  }
  return total;
}
