import type { SandboxErrorReason } from "@wrenn/contract";
import type { NetworkPolicy } from "../network/policy.js";
import type { SandboxMount } from "./mounts.js";
import type { TemplateRef } from "./template-snapshots.js";

/** Where a sandbox is in its life, as the agent records it on disk. */
export type Phase =
  /** Being booted; a record left in this phase by a crash is cleaned up at start. */
  | "creating"
  /** Booted in the warm pool, not yet given to anyone (no /init yet). */
  | "pooled"
  | "running"
  /** Frozen in memory (runsc pause). */
  | "frozen"
  /** Checkpointed to disk, memory freed. */
  | "paused"
  /** Being removed; finished at start if a crash interrupted it. */
  | "destroying"
  | "error";

export type BootPath = "warm_pool" | "template_restore" | "cold_boot" | "snapshot_restore";

export interface Resources {
  vcpus: number;
  memoryMb: number;
  diskMb: number;
}

/** Everything the agent must know to adopt, pause, resume or remove a sandbox after a restart. */
export interface SandboxRecord {
  runtimeId: string;
  /** Set when a pooled sandbox is claimed, or at create. */
  sandboxId?: string;
  phase: Phase;
  template: TemplateRef;
  resources: Resources;
  network: NetworkPolicy;
  /**
   * Its policy was given with secret parts (header rules, proxy credentials) that are held in
   * memory only: after a restart `network` lacks them until the control plane sends them again.
   */
  networkHeld?: boolean;
  metadata: Record<string, string>;
  envdVersion: string;
  bootPath: BootPath;
  createdAt: string;
  stateChangedAt: string;
  /** envd's access token; the record file is root-only (0600). */
  envdAccessToken?: string;
  error?: string;
  /** Why the sandbox is in error, as a code (see SANDBOX_ERROR_REASONS). */
  errorReason?: SandboxErrorReason;
  /**
   * A transition begun and not finished: set before a pause touches the sandbox, cleared when
   * it is over. Found at start, it means the agent died during it (see adoption).
   */
  transition?: "pausing";
  checkpointBytes?: number;
  /** /tmp on the sandbox's disk (RuntimeSpec.tmpOnDisk); unset on records from before it. */
  tmpOnDisk?: boolean;
  /**
   * Restored from its template's checkpoint taken with the start command's service up: the
   * create confirms the ready command instead of starting the service again.
   */
  serviceStarted?: boolean;
  /** Host directories bound into the sandbox; part of its runtime spec at every boot. */
  mounts?: SandboxMount[];
}
