import { access, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { CommandError, runCommand } from "../../command/run-command.js";
import { Cgroup, DEFAULT_CPU_SHARES } from "../cgroup.js";
import {
  CheckpointBlocked,
  CheckpointError,
  type GuestControl,
  type ResumeFrom,
  type RuntimeCapabilities,
  type RuntimeDriver,
  RuntimeError,
  type RuntimeSpec,
  type RuntimeStats,
  type RuntimeStatus,
  type SuspendOutcome,
  type SuspendRequest,
} from "../driver.js";
import { dropOldRunscShims } from "./guest-shims.js";
import { cgroupPath, ociSpec } from "./oci-spec.js";
import { isListening, openTcpSockets } from "./open-sockets.js";
import {
  probeRunsc,
  type RunscBuild,
  readIdentity,
  restoreRefusal,
  writeIdentity,
} from "./runsc-build.js";
import { killLeftovers, mapStatus, ourProcesses } from "./runsc-processes.js";
import { waitGone } from "./wait-gone.js";

/** The runsc every agent ran before builds were recorded: bookworm's, ptrace only. */
export const LEGACY_IDENTITY = "runsc version 0.0~20221219.0 platform=ptrace";

export interface GvisorOptions {
  /** runsc's --root: its state for every container of this agent. */
  stateDir: string;
  /** OCI bundles, one directory per runtime id. */
  bundlesDir: string;
  /** Added to the user's memory: the sentry and gofer share the sandbox's cgroup. */
  memoryOverheadMb: number;
  /**
   * Turns a full argv (program first) into the command that runs it for a sandbox in
   * netnsPath; bookworm's runsc needs a work-around to start with networking inside a
   * namespace on kernels >= 6 (notes).
   */
  wrapForNetns: (netnsPath: string, argv: string[]) => [string, string[]];
  /** The runsc binary (WRENN_RUNSC): a path, or a name looked up on PATH. */
  runsc?: string;
  /** "ptrace" forces that platform; otherwise systrap when this runsc can run it. */
  platform?: string;
  /** Told when a best-effort step failed (the sandbox runs on without it). */
  onWarning?: (what: { runtimeId: string; err: string }, message: string) => void;
}

/**
 * Written into a checkpoint's directory by the same shell that ran `runsc checkpoint`, only
 * when it succeeded: an agent killed during a pause can tell a complete image from a torn one.
 */
const CHECKPOINT_DONE = ".wrenn-checkpoint-complete";

/** The gVisor (runsc) driver: one OCI container per sandbox, systrap (or ptrace), netstack. */
export class GvisorDriver implements RuntimeDriver {
  readonly kind = "gvisor";
  readonly capabilities: RuntimeCapabilities = {
    checkpoint: true,
    freeze: true,
    // runsc takes the namespace's veth over with its own netstack; the rootfs is a directory
    // its gofer serves.
    network: "veth",
    storage: "overlay-dir",
  };
  private readonly runsc: string;
  private probed?: RunscBuild;
  /** `runsc delete` after a checkpoint takes 1-2 s of runsc's own bookkeeping; it runs here. */
  private readonly pendingDeletes = new Map<string, Promise<void>>();
  /** runsc's sandbox process of each container, for alive() (runsc state's pid). */
  private readonly sandboxPids = new Map<string, number>();

  constructor(private readonly opts: GvisorOptions) {
    this.runsc = opts.runsc || "runsc";
  }

  /** Probes the runsc once (version, platform); call before anything else. */
  async init(): Promise<RunscBuild> {
    this.probed = await probeRunsc(this.runsc, this.opts.platform);
    return this.probed;
  }

  get build(): RunscBuild {
    if (!this.probed) throw new RuntimeError("the gVisor driver was used before init()");
    return this.probed;
  }

  get identity(): string {
    return this.build.identity;
  }

  // The same global flags on every call for a container; a mismatch gives confusing errors.
  private global(): string[] {
    return ["--root", this.opts.stateDir, ...this.build.flags];
  }

  private async call(args: string[], timeoutMs = 60_000): Promise<string> {
    return runCommand(this.runsc, [...this.global(), ...args], { timeoutMs });
  }

  async start(spec: RuntimeSpec): Promise<void> {
    await this.clearStale(spec.runtimeId);
    const bundle = await this.writeBundle(spec);
    await this.launch(spec, ["run", "--detach", "--bundle", bundle, spec.runtimeId]);
    await this.throttleBeforeLimit(spec.runtimeId);
  }

  restoreRefusal(imageDir: string): Promise<string | undefined> {
    return restoreRefusal(imageDir, this.build, LEGACY_IDENTITY);
  }

  private async restore(spec: RuntimeSpec, imageDir: string): Promise<void> {
    // Never hand a checkpoint to a runsc build other than the one that made it.
    const refusal = await this.restoreRefusal(imageDir);
    if (refusal) throw new RuntimeError(refusal);
    await this.clearStale(spec.runtimeId);
    const bundle = await this.writeBundle(spec);
    await this.launch(spec, [
      "restore",
      "--image-path",
      imageDir,
      "--bundle",
      bundle,
      "--detach",
      spec.runtimeId,
    ]);
    await this.throttleBeforeLimit(spec.runtimeId);
  }

  /** memory.high under memory.max (v2), for envd's OOM guard: best effort, as the limit holds. */
  private async throttleBeforeLimit(runtimeId: string): Promise<void> {
    try {
      await (await Cgroup.open(cgroupPath(runtimeId))).throttleBeforeLimit();
    } catch (error) {
      const err = (error as Error).message;
      this.opts.onWarning?.({ runtimeId, err }, "memory.high not set: hard memory limit only");
    }
  }

  async stop(runtimeId: string): Promise<void> {
    await this.pendingDeletes.get(runtimeId);
    // Bookworm's runsc cannot delete a frozen container (it panics on "paused => stopped"):
    // thaw it first, then kill and delete, and judge by the outcome rather than exit statuses.
    if (this.build.needsThawBeforeDelete && (await this.status(runtimeId)) === "paused") {
      await this.call(["resume", runtimeId], 15_000).catch(() => {});
    }
    await this.call(["kill", runtimeId, "KILL"], 15_000).catch(() => {});
    const deleted = await this.call(["delete", "--force", runtimeId], 30_000).then(
      () => undefined,
      (err: Error) => err,
    );
    await this.reap(runtimeId);
    if (deleted && (await this.status(runtimeId)) !== "absent") {
      throw new RuntimeError(`could not remove sandbox ${runtimeId}: ${deleted.message}`);
    }
    await rm(this.bundleDir(runtimeId), { recursive: true, force: true });
  }

  /**
   * gVisor's recipe: this runsc cannot save a TCP endpoint that is listening, connected or
   * closing, and a failed save kills the sandbox. So envd is asked to close its listener and
   * idle connections first, the guest's sockets and the host's view of its closing flows are
   * checked, and only a sandbox with none is saved; otherwise envd is told to listen again
   * (SIGUSR2 to init, which forwards it) and the sandbox is frozen or left running.
   */
  async suspend(
    runtimeId: string,
    req: SuspendRequest,
    guest: GuestControl,
  ): Promise<SuspendOutcome> {
    if (req.mode === "freeze") {
      await this.freeze(runtimeId);
      return { mode: "freeze", blockers: [] };
    }
    await guest.quiesce();
    const blockers = [
      ...(await this.checkpointBlockers(runtimeId)).filter(
        (b) => !(req.keepListeners && isListening(b)),
      ),
      ...(await guest.closingConnections()),
    ];
    if (blockers.length > 0) {
      await this.signal(runtimeId, "SIGUSR2");
      await guest.waitReady();
      if (req.ifUnsafe === "refuse") {
        throw new CheckpointBlocked(
          `cannot checkpoint ${runtimeId} now: ${blockers.join(", ")}`,
          blockers,
        );
      }
      await this.freeze(runtimeId);
      return { mode: "freeze", blockers };
    }
    await rm(req.imageDir, { recursive: true, force: true });
    try {
      await this.checkpoint(runtimeId, req.imageDir);
    } catch (err) {
      throw new CheckpointError((err as Error).message);
    }
    return { mode: "checkpoint" };
  }

  async resume(runtimeId: string, from: ResumeFrom): Promise<void> {
    if (from.mode === "freeze") {
      await this.thaw(runtimeId);
      return;
    }
    if (from.mode === "checkpoint") {
      if (from.spec.runtimeId !== runtimeId) {
        throw new RuntimeError(`restore of ${runtimeId} given the spec of ${from.spec.runtimeId}`);
      }
      await this.restore(from.spec, from.imageDir);
    } else if ((await this.status(runtimeId)) === "paused") {
      await this.thaw(runtimeId);
    }
    // A restored envd, or one quiesced before the agent died, listens again on SIGUSR2.
    await this.signal(runtimeId, "SIGUSR2");
  }

  private async freeze(runtimeId: string): Promise<void> {
    await this.call(["pause", runtimeId]);
  }

  private async thaw(runtimeId: string): Promise<void> {
    await this.call(["resume", runtimeId]);
  }

  private async checkpoint(runtimeId: string, imageDir: string): Promise<void> {
    await mkdir(imageDir, { recursive: true });
    // Frozen first, so no process can open a socket between the caller's check that the
    // sandbox is safe to save and the save itself.
    if ((await this.status(runtimeId)) === "running") await this.freeze(runtimeId);
    await rm(path.join(imageDir, CHECKPOINT_DONE), { force: true });
    // The marker is written by the shell, not by us: it outlives an agent killed meanwhile.
    await runCommand(
      "/bin/sh",
      [
        "-c",
        'done_file="$1"; shift; "$@" && : > "$done_file"',
        "wrenn-checkpoint",
        path.join(imageDir, CHECKPOINT_DONE),
        this.runsc,
        ...this.global(),
        "checkpoint",
        "--image-path",
        imageDir,
        runtimeId,
      ],
      { timeoutMs: 300_000 },
    );
    // The build that saves is the sentry that has run this sandbox since its boot, which may
    // differ from the runsc this agent calls (a package upgraded under a running sandbox).
    const madeBy = (await readIdentity(this.bundleDir(runtimeId))) ?? LEGACY_IDENTITY;
    await writeIdentity(imageDir, madeBy);
    // The image is complete. Killing every task of the sandbox frees its memory at once;
    // runsc's own delete (1-2 s of bookkeeping, needed before the id can be restored) goes on
    // in the background, and whatever uses this id next waits for it.
    await this.reap(runtimeId);
    // Failures are not lost: whoever uses the id next checks for a stale container.
    const pending = this.deleteQuietly(runtimeId)
      .catch(() => {})
      .finally(() => this.pendingDeletes.delete(runtimeId));
    this.pendingDeletes.set(runtimeId, pending);
  }

  /** Kills every process of the sandbox: runsc's by their arguments, the rest by cgroup. */
  private async reap(runtimeId: string): Promise<void> {
    this.sandboxPids.delete(runtimeId);
    const killed = await killLeftovers(this.opts.stateDir, this.bundleDir(runtimeId), runtimeId);
    const cg = await Cgroup.open(cgroupPath(runtimeId));
    for (const pid of await cg.pids()) {
      killed.push(pid);
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    // SIGKILL lands asynchronously (a gofer in the middle of I/O takes a moment): whoever
    // called stop or checkpoint is promised that the processes are gone, not dying.
    await waitGone(killed, 5000);
  }

  /**
   * `delete --force` of a frozen container panics in this runsc ("paused => stopped") after
   * doing its work: judge by the outcome.
   */
  private async deleteQuietly(runtimeId: string): Promise<void> {
    await this.call(["delete", "--force", runtimeId], 30_000).catch(() => {});
    if ((await this.status(runtimeId)) !== "absent") {
      throw new RuntimeError(`runsc kept ${runtimeId} after deleting it`);
    }
  }

  /** A container left under this id (a background delete, or a crash before it): remove it. */
  private async clearStale(runtimeId: string): Promise<void> {
    this.sandboxPids.delete(runtimeId);
    await this.pendingDeletes.get(runtimeId)?.catch(() => {});
    if ((await this.status(runtimeId)) !== "absent") {
      await this.reap(runtimeId);
      await this.deleteQuietly(runtimeId);
    }
  }

  async checkpointOutcome(runtimeId: string, imageDir: string): Promise<"complete" | "incomplete"> {
    // A checkpoint the previous agent started may still be writing: wait for it to end.
    const deadline = Date.now() + 600_000;
    while (
      Date.now() < deadline &&
      (await ourProcesses(this.opts.stateDir, this.bundleDir(runtimeId), runtimeId, "checkpoint"))
        .length > 0
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return access(path.join(imageDir, CHECKPOINT_DONE)).then(
      () => "complete" as const,
      () => "incomplete" as const,
    );
  }

  async alive(runtimeId: string): Promise<boolean> {
    let pid = this.sandboxPids.get(runtimeId);
    if (pid === undefined) {
      const state = await this.state(runtimeId);
      if (!state || mapStatus(state.status) === "absent" || !state.pid) return false;
      pid = state.pid;
      this.sandboxPids.set(runtimeId, pid);
    }
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (stat === "" || state === "Z" || state === "X") {
      this.sandboxPids.delete(runtimeId);
      return false;
    }
    return true;
  }

  async exitReason(runtimeId: string): Promise<"oom" | "pids" | "crashed"> {
    const events = await (await Cgroup.open(cgroupPath(runtimeId))).limitEvents();
    if (events.oomKills > 0) return "oom";
    if (events.pidsRefused > 0) return "pids";
    return "crashed";
  }

  /** The guest's TCP sockets this runsc cannot save ("LISTEN port 8000"). */
  private async checkpointBlockers(runtimeId: string): Promise<string[]> {
    const out = await this.call(
      ["exec", runtimeId, "/bin/cat", "/proc/net/tcp", "/proc/net/tcp6"],
      15_000,
    );
    return openTcpSockets(out);
  }

  private async signal(runtimeId: string, signal: "SIGUSR2"): Promise<void> {
    await this.call(["kill", runtimeId, signal.replace(/^SIG/, "")], 15_000);
  }

  async status(runtimeId: string): Promise<RuntimeStatus> {
    return mapStatus((await this.state(runtimeId))?.status);
  }

  /** runsc state of a container; undefined when runsc has no such container. */
  private async state(runtimeId: string): Promise<{ status?: string; pid?: number } | undefined> {
    try {
      return JSON.parse(await this.call(["state", runtimeId], 15_000)) as {
        status?: string;
        pid?: number;
      };
    } catch (err) {
      // A container whose delete is under way (the background delete after a checkpoint)
      // loses its state file between runsc finding it and reading it: absent too.
      if (
        err instanceof CommandError &&
        /does not exist|not found|loading container: .*\.state: no such file/i.test(err.message)
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async list(): Promise<Array<{ runtimeId: string; status: RuntimeStatus }>> {
    const out = await this.call(["list", "--format=json"], 30_000);
    const items = (JSON.parse(out || "null") ?? []) as Array<{ id: string; status: string }>;
    return items.map((c) => ({ runtimeId: c.id, status: mapStatus(c.status) }));
  }

  async stats(runtimeId: string): Promise<RuntimeStats> {
    const cg = await Cgroup.open(cgroupPath(runtimeId));
    const [cpuNanos, mem] = await Promise.all([cg.cpuNanos(), cg.memory()]);
    return {
      cpuNanos,
      memUsedBytes: mem.usedBytes,
      memCacheBytes: mem.cacheBytes,
      memLimitBytes: mem.limitBytes,
    };
  }

  async setLimits(runtimeId: string, limits: { vcpus: number; memoryMb: number }): Promise<void> {
    const cg = await Cgroup.open(cgroupPath(runtimeId));
    await cg.setMemoryLimit((limits.memoryMb + this.opts.memoryOverheadMb) * 1024 * 1024);
    await cg.setCpuQuota(limits.vcpus);
  }

  async foreground(runtimeId: string): Promise<void> {
    const cg = await Cgroup.open(cgroupPath(runtimeId));
    await cg.setCpuShares(DEFAULT_CPU_SHARES);
  }

  private bundleDir(runtimeId: string): string {
    return path.join(this.opts.bundlesDir, runtimeId);
  }

  private async writeBundle(spec: RuntimeSpec): Promise<string> {
    const bundle = this.bundleDir(spec.runtimeId);
    await mkdir(bundle, { recursive: true });
    await writeFile(
      path.join(bundle, "config.json"),
      JSON.stringify(ociSpec(spec, this.opts.memoryOverheadMb), null, 2),
    );
    await writeIdentity(bundle, this.build.identity);
    if (!this.build.needsGuestShims) await dropOldRunscShims(spec.rootfs);
    return bundle;
  }

  /**
   * runsc run/restore --detach leave the sandbox running as daemons that inherit stdout and
   * stderr: point those at the sandbox's log, which also catches runsc's own errors.
   */
  private async launch(spec: RuntimeSpec, args: string[]): Promise<void> {
    const logPath = path.join(spec.dir, "runtime.log");
    const log = await open(logPath, "a");
    const full = [this.runsc, ...this.global(), ...args];
    const [cmd, argv] = this.build.needsNetnsFix
      ? this.opts.wrapForNetns(spec.netnsPath, full)
      : [full[0] as string, full.slice(1)];
    try {
      await runCommand(cmd, argv, { stdio: ["ignore", log.fd, log.fd], timeoutMs: 60_000 });
    } catch (err) {
      const tail = (await readFile(logPath, "utf8").catch(() => "")).split("\n").slice(-15);
      await this.stop(spec.runtimeId).catch(() => {});
      throw new RuntimeError(
        `runsc ${args[0]} of ${spec.runtimeId} failed: ${(err as Error).message}\n${tail.join("\n")}`,
      );
    } finally {
      await log.close();
    }
  }
}
