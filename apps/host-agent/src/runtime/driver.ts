/**
 * A sandbox's id as the host knows it (wr-1a2b3c4d: its container, network namespace, disk and
 * record directory), not the control plane's sandbox id (sb-…): the runtime id is fresh on every
 * boot, restore and adoption of the same sandbox. An alias that names the parameter's meaning
 * (a brand would need a cast at every one of the ~60 places a runtime id is read back).
 */
export type RuntimeId = string;

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
  /** What this runtime can do, and the network link and storage it expects from the agent. */
  readonly capabilities: RuntimeCapabilities;
  /** Boots a sandbox whose init starts envd. Resolves once the runtime reports it running. */
  start(spec: RuntimeSpec): Promise<void>;
  /** Kills and forgets the sandbox; idempotent. */
  stop(runtimeId: string): Promise<void>;
  /**
   * Stops the sandbox, in memory ("freeze") or saved to imageDir ("checkpoint"). Whatever the
   * runtime needs of the guest around a save (for gVisor: envd closing its listener, no TCP
   * endpoint open, envd listening again when it stays in memory) is the driver's own recipe;
   * the caller only lends it the guest. A checkpoint that is not safe now freezes instead
   * (ifUnsafe "freeze", the outcome names why) or refuses (RuntimeError, sandbox left running).
   * CheckpointError: the save itself failed and the sandbox no longer runs.
   */
  suspend(runtimeId: string, req: SuspendRequest, guest: GuestControl): Promise<SuspendOutcome>;
  /**
   * Runs the sandbox again: thawed ("freeze"); booted from a checkpoint, its own or a template's,
   * under spec's identity ("checkpoint"; refuses, RuntimeError, a checkpoint restoreRefusal
   * objects to); or whatever a suspend cut short by an agent restart left ("interrupted": a
   * running or frozen sandbox whose guest may have been quiesced). The caller waits for envd.
   */
  resume(runtimeId: string, from: ResumeFrom): Promise<void>;
  /** Why this runtime must not restore the checkpoint in imageDir; undefined if it may. */
  restoreRefusal(imageDir: string): Promise<string | undefined>;
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
  /** A sandbox booted in the background (RuntimeSpec.background) gets the CPU share of any. */
  foreground(runtimeId: string): Promise<void>;
  /** Raw counters; the caller turns CPU time into a percentage between two samples. */
  stats(runtimeId: string): Promise<RuntimeStats>;
}

export type RuntimeStatus = "running" | "paused" | "stopped" | "absent";

export interface RuntimeCapabilities {
  /** suspend "checkpoint" and resume from one (pause to disk, template and snapshot restore). */
  readonly checkpoint: boolean;
  /** suspend "freeze": every process stopped in place, memory kept. */
  readonly freeze: boolean;
  /**
   * What the runtime takes from the sandbox's network namespace: a veth end (gVisor's netstack
   * takes it over) or a TAP device (a microVM's NIC). The agent builds the one asked for.
   */
  readonly network: "veth" | "tap";
  /** What RuntimeSpec.rootfs is: a directory (an overlay over the template) or a block image. */
  readonly storage: "overlay-dir" | "block-image";
}

/** The sandbox's guest agent (envd), lent to the driver around a suspend. */
export interface GuestControl {
  /** Asks envd to close what a save cannot carry (its listener, idle connections). */
  quiesce(): Promise<void>;
  /** Until envd answers again. */
  waitReady(): Promise<void>;
  /**
   * The sandbox's connections the host still sees closing (conntrack), as "STATE port N": the
   * guest's own view does not list them, and some runtimes cannot save them.
   */
  closingConnections(): Promise<string[]>;
}

export type SuspendRequest =
  | { mode: "freeze" }
  | {
      mode: "checkpoint";
      imageDir: string;
      ifUnsafe: "freeze" | "refuse";
      /**
       * A listening socket does not block the save (a template's service: busybox httpd in
       * accept, node's epoll both saved and restored under runsc 20240729). A refused save
       * kills the sandbox, so only a throwaway (a template's checkpoint) asks.
       */
      keepListeners?: boolean;
    };

/** blockers: why a checkpoint froze instead (empty for a freeze that was asked for). */
export type SuspendOutcome = { mode: "checkpoint" } | { mode: "freeze"; blockers: string[] };

export type ResumeFrom =
  | { mode: "freeze" }
  | { mode: "checkpoint"; spec: RuntimeSpec; imageDir: string }
  | { mode: "interrupted" };

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
   * A warm-pool boot: the sandbox gets a small share of the CPU (BACKGROUND_CPU_SHARES) until
   * it is claimed (RuntimeDriver.foreground), so a refill started by one create yields the
   * cores to the sandboxes in use (the first commands of the one just created among them).
   */
  background?: boolean;
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

/** A checkpoint's save failed: the sandbox no longer runs (the runtime killed it). */
export class CheckpointError extends RuntimeError {}

/** A checkpoint refused (ifUnsafe "refuse") for what the sandbox holds now; it runs on. */
export class CheckpointBlocked extends RuntimeError {
  constructor(
    message: string,
    readonly blockers: string[],
  ) {
    super(message);
  }
}
