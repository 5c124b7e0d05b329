/**
 * What the service layer needs from a sandbox runtime. gVisor (runsc) is the first driver;
 * a QEMU microVM or Firecracker driver implements the same interface, taking the same root
 * filesystem directory and network namespace and turning them into whatever it boots.
 */
export interface RuntimeDriver {
  readonly kind: string;
  /**
   * The runtime build and mode a checkpoint depends on (for gVisor: runsc's version and
   * platform). Template checkpoints are kept per identity; a checkpoint of another identity
   * is never restored.
   */
  readonly identity: string;
  /** Boots a sandbox whose init starts envd. Resolves once the runtime reports it running. */
  start(spec: RuntimeSpec): Promise<void>;
  /** Kills and forgets the sandbox; idempotent. */
  stop(runtimeId: string): Promise<void>;
  /** Freezes every process in place (memory stays allocated). */
  freeze(runtimeId: string): Promise<void>;
  thaw(runtimeId: string): Promise<void>;
  /**
   * Why saving this sandbox now would fail, if anything (empty when it is safe). This
   * gVisor cannot save a TCP socket that is listening, connected or in TIME_WAIT, and a
   * failed save kills the sandbox, so the caller asks first and freezes instead.
   */
  checkpointBlockers(runtimeId: string): Promise<string[]>;
  /** Saves memory and state to imageDir; the sandbox no longer runs afterwards. */
  checkpoint(runtimeId: string, imageDir: string): Promise<void>;
  /** Why this runtime must not restore the checkpoint in imageDir; undefined if it may. */
  restoreRefusal(imageDir: string): Promise<string | undefined>;
  /**
   * Boots a sandbox from a checkpoint (its own or a template's), under spec's identity.
   * Refuses (RuntimeError) a checkpoint restoreRefusal objects to.
   */
  restore(spec: RuntimeSpec, imageDir: string): Promise<void>;
  /** Sends a signal to the sandbox's init, which forwards it to envd. */
  signal(runtimeId: string, signal: "SIGUSR2"): Promise<void>;
  status(runtimeId: string): Promise<RuntimeStatus>;
  /**
   * Whether the sandbox's processes are still there, without asking the runtime's CLI: cheap
   * enough to call for every sandbox several times a second. false means "ask status()".
   */
  alive(runtimeId: string): Promise<boolean>;
  /** Why a sandbox that stopped on its own stopped, as far as the host can tell. */
  exitReason(runtimeId: string): Promise<"oom" | "pids" | "crashed">;
  /**
   * After an agent restart: waits for a checkpoint of this sandbox that the previous agent
   * started to end, and says whether it completed (imageDir holds a restorable image).
   */
  checkpointOutcome(runtimeId: string, imageDir: string): Promise<"complete" | "incomplete">;
  /** Every sandbox this runtime holds, for adoption after an agent restart. */
  list(): Promise<Array<{ runtimeId: string; status: RuntimeStatus }>>;
  /** New CPU and memory limits for a running sandbox (a warm-pool sandbox being claimed). */
  setLimits(runtimeId: string, limits: { vcpus: number; memoryMb: number }): Promise<void>;
  /** Raw counters; the caller turns CPU time into a percentage between two samples. */
  stats(runtimeId: string): Promise<RuntimeStats>;
}

export type RuntimeStatus = "running" | "paused" | "stopped" | "absent";

export interface RuntimeSpec {
  /** Fixed-width id, never a prefix of another (runsc resolves ids by prefix). */
  runtimeId: string;
  /** The sandbox's own directory on the host (bundle, logs). */
  dir: string;
  /** Root filesystem directory (an overlay over the template). */
  rootfs: string;
  netnsPath: string;
  vcpus: number;
  memoryMb: number;
  /** Host-side backstop on tasks; see the notes on pids under ptrace. */
  pidsLimit: number;
  /**
   * /tmp is the root filesystem's own (on the sandbox's disk, bounded by it) instead of the
   * runtime's default in-memory tmpfs. Part of the mount table a checkpoint restores into,
   * so sandboxes booted before this existed keep theirs.
   */
  tmpOnDisk: boolean;
  /** Host directories (already checked) bound into the sandbox. */
  mounts: Array<{ hostPath: string; sandboxPath: string; readOnly: boolean }>;
  /**
   * envd from the host's runtime directory (mounted read-only) instead of the template's own:
   * templates from OCI images. argv and environment of envd itself.
   */
  envdRuntime?: { hostDir: string; args: string[]; env: string[] };
}

export interface RuntimeStats {
  /** Total CPU time used, in nanoseconds. */
  cpuNanos: number;
  memUsedBytes: number;
  memCacheBytes: number;
  memLimitBytes: number;
}

export class RuntimeError extends Error {}
