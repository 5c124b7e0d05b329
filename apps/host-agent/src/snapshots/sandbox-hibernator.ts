import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { isSandboxId } from "@wrenn/contract";
import type { Logger } from "pino";
import type { ArtifactCache } from "../artifacts/artifact-cache.js";
import { packToFile, unpackTarFile } from "../artifacts/artifact-pack.js";
import type { ArtifactKey, ArtifactManifest, ArtifactStore } from "../artifacts/artifact-store.js";
import { ArtifactStoreError, describeKey } from "../artifacts/artifact-store.js";
import type { NetworkPolicy } from "../network/policy.js";
import type { RuntimeDriver } from "../runtime/driver.js";
import { AgentError } from "../sandboxes/errors.js";
import type { SandboxManager, SandboxView } from "../sandboxes/sandbox-manager.js";
import { fromStoreError, localTemplateOf, refuseMissingCpuFeatures } from "./restore-checks.js";
import { restorableMeta, stageSandbox } from "./sandbox-snapshotter.js";
import type { SnapshotMeta } from "./snapshot-store.js";

/** What a hibernated sandbox's manifest carries beside its files. */
export interface HibernationMeta {
  snapshot: Omit<SnapshotMeta, "sizeBytes">;
  network: NetworkPolicy;
  metadata: Record<string, string>;
  /** The CPU flags of the host that checkpointed it: a restoring host must have them all. */
  cpuFeatures: string[];
}

const keyOf = (sandboxId: string): ArtifactKey => ({ kind: "hibernation", id: sandboxId });

/**
 * Hibernation: a paused sandbox's checkpoint and disk go to the shared artifact store and the
 * sandbox leaves this host; any host with the same runtime build and CPU features brings it
 * back with the same id, token, files and processes (restored as a snapshot is, into a network
 * of its own).
 */
export class SandboxHibernator {
  constructor(
    private readonly manager: SandboxManager,
    private readonly store: ArtifactStore,
    private readonly runtime: Pick<RuntimeDriver, "identity" | "restoreRefusal">,
    private readonly cpuFeatures: readonly string[],
    /** Where artifacts are staged and unpacked; on the data dir's filesystem (reflinks). */
    private readonly scratchRoot: string,
    private readonly log: Logger,
    /**
     * Copies of what this host uploaded (a shared store only): a resume here reads its copy.
     * The control plane resumes a hibernated sandbox on the host it left when that host can
     * take it (runRestoreHibernated's preferHostId), which is the host holding the copy.
     */
    private readonly cache?: ArtifactCache,
  ) {}

  async hibernate(sandboxId: string): Promise<{ storedBytes: number }> {
    const inst = this.manager.instanceOf(sandboxId);
    const phase = inst.record.phase;
    if (phase !== "paused") {
      throw new AgentError(
        "failed_precondition",
        phase === "frozen"
          ? `sandbox ${sandboxId} is paused in memory (it held TCP connections when paused), which cannot leave this host; resume it, close them, pause it and hibernate again`
          : `sandbox ${sandboxId} is ${phase}; only a paused sandbox can be hibernated`,
        "invalid_state",
      );
    }
    const stage = path.join(this.scratchRoot, `${sandboxId}.hibernate-${process.pid}`);
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { recursive: true, mode: 0o700 });
    try {
      await stageSandbox(inst, stage);
      const meta: HibernationMeta = {
        snapshot: {
          ...restorableMeta(inst, this.runtime.identity),
          snapshotId: sandboxId,
          createdAt: new Date().toISOString(),
        },
        network: inst.record.network,
        metadata: inst.record.metadata,
        cpuFeatures: [...this.cpuFeatures],
      };
      const manifest = await this.upload(
        keyOf(sandboxId),
        stage,
        meta as unknown as Record<string, unknown>,
      ).catch((err: unknown) => {
        throw err instanceof ArtifactStoreError
          ? new AgentError("unavailable", err.message, "store_unavailable")
          : err;
      });
      // Only once the store holds every byte does the sandbox leave this host.
      await this.manager.destroy(sandboxId);
      this.log.info(
        { sandboxId, storedBytes: manifest.bytes, store: this.store.description },
        "sandbox hibernated",
      );
      return { storedBytes: manifest.bytes };
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }

  async restore(sandboxId: string): Promise<SandboxView> {
    if (!isSandboxId(sandboxId)) {
      throw new AgentError("invalid_argument", "sandbox id must look like sb-1a2b3c4d");
    }
    if (this.manager.has(sandboxId)) return this.manager.get(sandboxId);
    const dir = path.join(this.scratchRoot, `${sandboxId}.restore-${process.pid}-${Date.now()}`);
    await mkdir(this.scratchRoot, { recursive: true, mode: 0o700 });
    try {
      const manifest = await this.fetch(keyOf(sandboxId), dir).catch((err: unknown) =>
        fromStoreError(err, (message) => new AgentError("not_found", message, "sandbox_not_found")),
      );
      const meta = manifest.meta as unknown as HibernationMeta;
      refuseMissingCpuFeatures(
        `sandbox ${sandboxId}`,
        meta.cpuFeatures,
        this.cpuFeatures,
        "resume it",
      );
      const checkpointDir = path.join(dir, "checkpoint");
      const refusal = await this.runtime.restoreRefusal(checkpointDir);
      if (refusal) {
        throw new AgentError(
          "failed_precondition",
          `sandbox ${sandboxId}: ${refusal}`,
          "snapshot_incompatible",
        );
      }
      const template = await localTemplateOf(`sandbox ${sandboxId}`, meta.snapshot.template, (n) =>
        this.manager.templateRef(n),
      );
      const snapshot = { ...meta.snapshot, template, sizeBytes: manifest.bytes };
      const view = await this.manager.create({
        sandboxId,
        template: template.name,
        resources: {},
        envVars: {},
        metadata: meta.metadata,
        network: meta.network,
        ...(snapshot.envdAccessToken ? { envdAccessToken: snapshot.envdAccessToken } : {}),
        fromSnapshot: { meta: snapshot, checkpointDir, diskImage: path.join(dir, "disk.img") },
      });
      // It lives on this host now: the stored copy (and ours of it) would only go stale.
      await this.cache?.remove(keyOf(sandboxId));
      await this.store
        .remove(keyOf(sandboxId))
        .catch((err: Error) =>
          this.log.warn({ sandboxId, err: err.message }, "could not remove the hibernated copy"),
        );
      this.log.info({ sandboxId, store: this.store.description }, "hibernated sandbox restored");
      return view;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** After the sandbox ended for good (destroyed while hibernated). Idempotent. */
  async forget(sandboxId: string): Promise<void> {
    await this.cache?.remove(keyOf(sandboxId));
    await this.store.remove(keyOf(sandboxId));
  }

  /**
   * Stores the staged directory. With a cache, it is packed into the cache's file first and
   * that file uploaded, so the cache holds the very bytes the store does (same SHA-256); the
   * copy is kept only once the store took every byte.
   */
  private async upload(
    key: ArtifactKey,
    stage: string,
    meta: Record<string, unknown>,
  ): Promise<ArtifactManifest> {
    if (!this.cache) return this.store.put(key, stage, meta);
    await this.cache.remove(key);
    const tar = await this.cache.scratchFile(key);
    try {
      await packToFile(stage, tar);
      const manifest = await this.store.putTar(key, tar, meta);
      await this.cache
        .adopt(key, tar)
        .catch((err: Error) =>
          this.log.warn({ artifact: describeKey(key), err: err.message }, "could not cache"),
        );
      return manifest;
    } finally {
      await rm(tar, { force: true });
    }
  }

  /**
   * Unpacks the artifact into dir: from this host's copy when it is the very artifact the
   * store's manifest names (SHA-256 and length, checked as a download is), else downloaded.
   * A copy in any doubt (changed, cut, unreadable) is dropped and the store's used instead.
   */
  private async fetch(key: ArtifactKey, dir: string): Promise<ArtifactManifest> {
    const cached = await this.cache?.lookup(key);
    if (cached) {
      const manifest = await this.store.head(key);
      if (!manifest) {
        await this.cache?.remove(key);
      } else {
        try {
          await unpackTarFile(cached, dir, {
            ...manifest,
            what: `the cached copy of ${describeKey(key)}`,
          });
          this.log.info({ artifact: describeKey(key) }, "restoring from this host's copy");
          return manifest;
        } catch (err) {
          this.log.warn(
            { artifact: describeKey(key), err: (err as Error).message },
            "this host's copy is not the stored artifact; dropped it and downloading",
          );
          await this.cache?.remove(key);
        }
      }
    }
    return this.store.get(key, dir);
  }
}
