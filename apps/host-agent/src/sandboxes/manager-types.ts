import type { NetworkPolicy } from "../network/policy.js";
import type { SnapshotArtifact } from "../snapshots/sandbox-snapshotter.js";
import type { SandboxMount } from "./mounts.js";
import type { BootPath, Resources, SandboxRecord } from "./record.js";

// The manager's public shapes, apart so its parts (manager-core.ts and the sandbox-*.ts
// operation files) share them without importing the facade.

export interface ManagerConfig {
  defaults: Resources;
  /** Sandboxes kept booted per template, ready to be claimed. */
  poolSize: number;
  /**
   * Templates other than base keep warm sandboxes only while in use: a create or build within
   * this many seconds (0: every template, always).
   */
  poolIdleSeconds?: number;
  /**
   * The most warm sandboxes on the host, every template together: a template whose creates
   * come in bursts keeps up to its recent peak (PoolDemand). Default: `poolSize` (no growth).
   */
  poolMax?: number;
  /** Warm-pool boots at once (each at a small CPU share). Default 1. */
  poolRefillBoots?: number;
  /** Boots on creates' requests at once (BootTurns). Default 2 (WRENN_BOOT_SLOTS: the CPUs). */
  bootSlots?: number;
  /** Keep a booted checkpoint per template and restore it when the pool is empty. */
  templateRestore: boolean;
  /** The host's envd runtime (image templates); undefined when it could not be assembled. */
  envdRuntime?: { hostDir: string; hash: string; loader: string };
  pidsLimit: number;
  healthTimeoutMs: number;
  /** Written to /etc/resolv.conf of sandboxes allowed on the internet. */
  sandboxDns: string[];
  /** Host directories under which mounts are allowed (resolved, absolute). */
  mountRoots: string[];
}

export interface CreateRequest {
  sandboxId: string;
  template: string;
  resources: Partial<Resources>;
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network: NetworkPolicy;
  envdAccessToken?: string;
  defaultUser?: string;
  defaultWorkdir?: string;
  mounts?: SandboxMount[];
  /** Restore this snapshot (checked by SandboxSnapshotter.artifact) instead of the template. */
  fromSnapshot?: SnapshotArtifact;
}

export interface SandboxView extends SandboxRecord {
  sandboxId: string;
  address: string;
  pauseMode?: "checkpoint" | "freeze";
  /** The runtime driver it runs under (RuntimeDriver.kind). */
  runtime: string;
  /** Its policy's secret parts were lost with a restart: the control plane must send it again. */
  networkIncomplete: boolean;
}

export interface Observer {
  created(path: BootPath, seconds: number): void;
  paused(mode: "checkpoint" | "freeze", seconds: number): void;
  resumed(seconds: number): void;
}
