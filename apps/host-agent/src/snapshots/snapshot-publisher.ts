import { access, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { isSnapshotId } from "@wrenn/contract";
import type { Logger } from "pino";
import type { ArtifactKey, ArtifactStore } from "../artifacts/artifact-store.js";
import { ArtifactStoreError } from "../artifacts/artifact-store.js";
import { AgentError } from "../sandboxes/errors.js";
import type { TemplateRef } from "../sandboxes/template-snapshots.js";
import { fromStoreError, localTemplateOf, refuseMissingCpuFeatures } from "./restore-checks.js";
import type { SnapshotMeta, SnapshotStore } from "./snapshot-store.js";

/** What a snapshot's manifest carries beside its files. */
export interface StoredSnapshotMeta {
  snapshot: SnapshotMeta;
  /** The CPU flags of the host that checkpointed it: a restoring host must have them all. */
  cpuFeatures: string[];
}

const keyOf = (snapshotId: string): ArtifactKey => ({ kind: "snapshot", id: snapshotId });

/**
 * Snapshots on the shared artifact store (WRENN_STORE=s3), so any host with the template and
 * the CPU features can make sandboxes of one, not only the host that took it. The local
 * directory (SnapshotStore) stays the working copy: a snapshot is uploaded after it is
 * complete there, with the same packer and artifact shape as a hibernated sandbox, and a host
 * without it downloads it into its own SnapshotStore once, checked against the manifest.
 *
 * An upload the store refused loses nothing: the snapshot is on this host, a marker file
 * (<pendingDir>/<id>) says it still has to go, and it is retried every retryMs and at start.
 */
export class SnapshotPublisher {
  private readonly downloads = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  /** A retry pass under way: the next tick skips, so two uploads of one id never overlap. */
  private retrying = false;

  constructor(
    private readonly store: ArtifactStore,
    private readonly local: SnapshotStore,
    private readonly cpuFeatures: readonly string[],
    private readonly templateRef: (name: string) => Promise<TemplateRef | undefined>,
    private readonly pendingDir: string,
    private readonly log: Logger,
    private readonly retryMs = 30_000,
  ) {}

  /** Retries what an earlier run could not upload, then every retryMs. */
  async start(): Promise<void> {
    await mkdir(this.pendingDir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => void this.retryPending(), this.retryMs);
    this.timer.unref();
    void this.retryPending();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Uploads a committed snapshot; on a store failure it is queued for a retry (not thrown). */
  async publish(meta: SnapshotMeta): Promise<{ stored: boolean }> {
    const id = meta.snapshotId;
    try {
      const stored: StoredSnapshotMeta = { snapshot: meta, cpuFeatures: [...this.cpuFeatures] };
      await this.store.put(
        keyOf(id),
        this.local.dir(id),
        stored as unknown as Record<string, unknown>,
      );
      await rm(path.join(this.pendingDir, id), { force: true });
      this.log.info({ snapshotId: id, store: this.store.description }, "snapshot stored");
      return { stored: true };
    } catch (err) {
      if (!(err instanceof ArtifactStoreError)) throw err;
      await writeFile(path.join(this.pendingDir, id), "", { mode: 0o600 });
      this.log.warn(
        { snapshotId: id, err: err.message, retryMs: this.retryMs },
        "snapshot kept on this host; its upload is retried",
      );
      return { stored: false };
    }
  }

  /**
   * Whether the snapshot's upload is done: its marker gone and its manifest in the store (the
   * control plane asks, to learn of an upload a retry finished). A store outage throws.
   */
  async isStored(snapshotId: string): Promise<boolean> {
    try {
      await access(path.join(this.pendingDir, snapshotId));
      return false;
    } catch {
      // No upload pending: the store says whether it holds the snapshot.
    }
    const manifest = await this.store.head(keyOf(snapshotId)).catch((err: unknown) => {
      throw err instanceof ArtifactStoreError
        ? new AgentError(
            "unavailable",
            `cannot tell whether snapshot ${snapshotId} is in ${this.store.description}: ${err.message}`,
            "store_unavailable",
          )
        : err;
    });
    return manifest !== undefined;
  }

  private async retryPending(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      await this.retryEach();
    } finally {
      this.retrying = false;
    }
  }

  private async retryEach(): Promise<void> {
    const ids = await readdir(this.pendingDir).catch(() => [] as string[]);
    for (const id of ids.filter(isSnapshotId)) {
      const meta = await this.local.get(id);
      if (!meta) {
        // Deleted meanwhile: nothing left to upload.
        await rm(path.join(this.pendingDir, id), { force: true });
        continue;
      }
      await this.publish(meta).catch((err: Error) =>
        this.log.error({ snapshotId: id, err: err.message }, "snapshot upload retry failed"),
      );
    }
  }

  /**
   * Brings a snapshot this host does not hold from the store into its SnapshotStore, refused
   * (with nothing kept) when this host lacks a CPU feature the checkpoint may use or the
   * template version it overlays. Concurrent creates of one snapshot share one download.
   */
  fetch(snapshotId: string): Promise<void> {
    let running = this.downloads.get(snapshotId);
    if (!running) {
      running = this.download(snapshotId).finally(() => this.downloads.delete(snapshotId));
      this.downloads.set(snapshotId, running);
    }
    return running;
  }

  private async download(snapshotId: string): Promise<void> {
    if (await this.local.get(snapshotId)) return;
    const dest = this.local.downloadDir(snapshotId);
    try {
      const manifest = await this.store
        .get(keyOf(snapshotId), dest)
        .catch((err: unknown) =>
          fromStoreError(
            err,
            () =>
              new AgentError(
                "not_found",
                `snapshot ${snapshotId} is neither on this host nor in ${this.store.description}`,
                "snapshot_not_found",
              ),
          ),
        );
      const stored = manifest.meta as unknown as StoredSnapshotMeta;
      refuseMissingCpuFeatures(
        `snapshot ${snapshotId}`,
        stored.cpuFeatures,
        this.cpuFeatures,
        "create it",
      );
      const { template: wanted, sizeBytes: _size, ...rest } = stored.snapshot;
      // The rootfs path in the meta is the writing host's: this host's own ref instead.
      const template = await localTemplateOf(`snapshot ${snapshotId}`, wanted, this.templateRef);
      // The runtime identity is checked by SandboxSnapshotter.artifact, as for a local one.
      await this.local.commit(snapshotId, dest, { ...rest, snapshotId, template });
      this.log.info({ snapshotId, store: this.store.description }, "snapshot downloaded");
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  }

  /** Removes the stored copy (and any pending upload). Idempotent; a store outage throws. */
  async remove(snapshotId: string): Promise<void> {
    await rm(path.join(this.pendingDir, snapshotId), { force: true });
    await this.store.remove(keyOf(snapshotId)).catch((err: unknown) => {
      throw err instanceof ArtifactStoreError
        ? new AgentError(
            "unavailable",
            `snapshot ${snapshotId} was removed from this host but not from the store: ${err.message}`,
            "store_unavailable",
          )
        : err;
    });
  }
}
