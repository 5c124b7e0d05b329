import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, realpath, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  ContractError,
  checkStoppedFilesRead,
  errorMessage,
  FILES_RESCUE_LIMITS,
  invalidInput,
} from "@wrenn/contract";
import type { Logger } from "pino";
import { runCommand, type StreamingCommand, streamCommand } from "../command/run-command.js";
import { Cgroup } from "../runtime/cgroup.js";
import { cgroupPath, DISK_READER_GUEST_PATH, diskReaderSpec } from "../runtime/gvisor/oci-spec.js";
import type { RunscBuild } from "../runtime/gvisor/runsc-build.js";
import type { Instance } from "../sandboxes/instance.js";

export type ReadFormat = "file" | "tar";

export type ReadEvent = { header: { path: string } } | { data: Buffer };

export interface DiskReaderOptions {
  runsc: string;
  /** runsc's --root for readers (not the sandboxes' one: nothing else lists these). */
  stateDir: string;
  bundlesDir: string;
  build: () => RunscBuild;
  memoryOverheadMb: number;
  pidsLimit: number;
  /** The sandbox's host-side pieces (throws not_found for an unknown sandbox). */
  instanceOf: (sandboxId: string) => Instance;
  log: Logger;
  /** Tests lower these to reach them; the contract's bounds otherwise. */
  limits?: { outputBytes: number; timeoutMs: number; concurrentPerHost?: number };
  /** The static busybox the reader runs (Debian's busybox-static); /bin/busybox otherwise. */
  busybox?: string;
}

/** Where bin/setup installs the reader (Debian's busybox-static, a static binary). */
const HOST_BUSYBOX = "/bin/busybox";

/**
 * What is read before the answer is committed: enough for a read that fails at once (tar of a
 * missing path writes its empty archive, 10 KiB, then exits 2) to be refused as a whole.
 */
const COMMIT_BYTES = 64 * 1024;

/**
 * Reads the files of a failed sandbox (its processes are gone, its disk is kept) without the
 * agent ever opening them: a short-lived gVisor container whose root is the sandbox's overlay,
 * read-only, with no network and no host path but our reader, runs `busybox cat` or `busybox
 * tar` as root inside, and its stdout is what comes back. Every path and link resolves inside
 * the sandbox's root, so a link to /etc/shadow gives the sandbox's own file. The reader is the
 * host's static busybox, bound read-only: the image's own cat and tar may be missing (distroless),
 * of another dialect (busybox tar has no --one-file-system) or doctored by the tenant.
 *
 * One read at a time per sandbox and FILES_RESCUE_LIMITS.concurrentPerHost per host, bounded
 * in bytes and time, each in its own container and bundle, removed however the read ends
 * (client gone, sandbox destroyed, agent restarted: cleanLeftovers).
 */
export class DiskReader {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly options: DiskReaderOptions) {}

  /** Stops the read of a sandbox being destroyed. */
  abort(sandboxId: string): void {
    this.running.get(sandboxId)?.abort(new Error(`sandbox ${sandboxId} is being destroyed`));
  }

  /** Removes readers a previous agent process left (it died during a read). */
  async cleanLeftovers(): Promise<void> {
    const out = await runCommand(
      this.options.runsc,
      [`--root=${this.options.stateDir}`, "list", "--format=json"],
      { timeoutMs: 30_000 },
    ).catch(() => "null");
    const items = (JSON.parse(out || "null") ?? []) as Array<{ id: string }>;
    for (const { id } of items) await this.remove(id);
    await rm(this.options.bundlesDir, { recursive: true, force: true });
    await this.readerBinary().catch((err: Error) =>
      this.options.log.warn(
        { err: err.message },
        "failed sandboxes' files cannot be read on this host",
      ),
    );
  }

  /** The host's static busybox, or not_supported: without it no read can run here. */
  private async readerBinary(): Promise<string> {
    const file = this.options.busybox ?? HOST_BUSYBOX;
    try {
      await access(file, constants.X_OK);
      return await realpath(file);
    } catch {
      throw new ContractError(
        "not_supported",
        errorMessage("not_supported", {
          feature: `reading a failed sandbox's files on this host (its reader ${file} is missing: install busybox-static, or run bin/setup)`,
        }),
      );
    }
  }

  async *read(
    sandboxId: string,
    req: { path: string; format: ReadFormat; user?: string },
    signal: AbortSignal,
  ): AsyncGenerator<ReadEvent> {
    const target = checkStoppedFilesRead(req.path, req.user || "user");
    const inst = this.options.instanceOf(sandboxId);
    if (inst.record.phase !== "error") {
      throw new ContractError(
        "files_unavailable",
        `sandbox ${sandboxId} is ${inst.record.phase}: only a failed sandbox's disk is read this way (a running one answers through envd)`,
      );
    }
    const busybox = await this.readerBinary();
    // Synchronous from here to the set: two reads cannot both pass the checks.
    if (this.running.has(sandboxId)) {
      throw new ContractError(
        "files_read_busy",
        errorMessage("files_read_busy", { id: sandboxId }),
      );
    }
    const perHost = this.options.limits?.concurrentPerHost ?? FILES_RESCUE_LIMITS.concurrentPerHost;
    if (this.running.size >= perHost) {
      throw new ContractError(
        "files_read_busy",
        `this host already runs ${perHost} reads of failed sandboxes' disks, the most it runs at once: try again shortly`,
      );
    }
    const abort = new AbortController();
    this.running.set(sandboxId, abort);
    // Its own id and bundle: a read that is still unwinding never shares them with the next.
    const readerId = `rescue-${inst.runtimeId}-${randomBytes(4).toString("hex")}`;
    const bundle = path.join(this.options.bundlesDir, readerId);
    let run: StreamingCommand | undefined;
    // Once, whichever comes first: the read's own end, or its abort once the reader runs (the
    // caller went away, the sandbox is being destroyed): a stream aborted while suspended at a
    // yield may never be resumed, so its finally cannot be the only place the container is
    // removed and the sandbox freed. Before the spawn the body is never suspended at a yield
    // and always reaches its finally: it alone cleans, so `running` is freed only once the body
    // can no longer write the bundle.
    let cleaned: Promise<void> | undefined;
    const cleanup = () => {
      cleaned ??= (async () => {
        signal.removeEventListener("abort", onClientGone);
        const child = run?.child;
        if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        if (child) await this.remove(readerId);
        await rm(bundle, { recursive: true, force: true });
        if (this.running.get(sandboxId) === abort) this.running.delete(sandboxId);
      })();
      return cleaned;
    };
    const onClientGone = () => abort.abort(new Error("the caller went away"));
    signal.addEventListener("abort", onClientGone);
    if (signal.aborted) onClientGone();
    abort.signal.addEventListener("abort", () => {
      if (run) void cleanup();
    });
    /** After every await of the set-up: an aborted read makes nothing more. */
    const stillWanted = () => {
      if (abort.signal.aborted) throw abort.signal.reason;
    };
    try {
      stillWanted();
      await this.mountDisk(inst, sandboxId);
      stillWanted();
      await mkdir(bundle, { recursive: true, mode: 0o700 });
      stillWanted();
      await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
      stillWanted();
      const spec = diskReaderSpec(inst.spec("", this.options.pidsLimit), {
        readerId,
        argv: readerArgv(target, req.format),
        busybox,
        memoryMb: FILES_RESCUE_LIMITS.memoryMb,
        memoryOverheadMb: this.options.memoryOverheadMb,
      });
      await writeFile(path.join(bundle, "config.json"), JSON.stringify(spec));
      stillWanted();
      const build = this.options.build();
      run = streamCommand(this.options.runsc, [
        `--root=${this.options.stateDir}`,
        `--platform=${build.platform}`,
        "--network=none",
        "--overlay2=none",
        ...(build.directfs ? ["--directfs=true"] : []),
        "run",
        "--bundle",
        bundle,
        readerId,
      ]);
      yield* this.stream(run, target, abort.signal);
      this.options.log.info(
        { sandboxId, path: target, format: req.format },
        "read a failed sandbox's disk",
      );
    } catch (err) {
      this.options.log.warn(
        { sandboxId, path: target, format: req.format, err: (err as Error).message },
        "reading a failed sandbox's disk failed",
      );
      throw err;
    } finally {
      await cleanup();
    }
  }

  private async *stream(
    { child, exited }: StreamingCommand,
    target: string,
    signal: AbortSignal,
  ): AsyncGenerator<ReadEvent> {
    const limits = this.options.limits ?? {
      outputBytes: FILES_RESCUE_LIMITS.outputBytes,
      timeoutMs: FILES_RESCUE_LIMITS.timeoutSeconds * 1000,
    };
    let stopped: Error | undefined;
    const stop = (why: Error) => {
      stopped ??= why;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(
      () =>
        stop(
          new ContractError(
            "files_read_timeout",
            `the read of ${target} ran past ${limits.timeoutMs / 1000} s, the longest one read runs, and was stopped`,
          ),
        ),
      limits.timeoutMs,
    );
    const onAbort = () => stop(signal.reason as Error);
    signal.addEventListener("abort", onAbort);
    try {
      let held: Buffer[] = [];
      let heldBytes = 0;
      let total = 0;
      let committed = false;
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        if (total > limits.outputBytes) {
          stop(
            new ContractError(
              "files_read_too_large",
              `${target} is larger than ${limits.outputBytes} bytes, the most one read returns`,
            ),
          );
          break;
        }
        if (committed) {
          yield { data: chunk };
          continue;
        }
        held.push(chunk);
        heldBytes += chunk.byteLength;
        if (heldBytes >= COMMIT_BYTES) {
          committed = true;
          yield { header: { path: target } };
          for (const c of held) yield { data: c };
          held = [];
        }
      }
      const failure = await exited;
      if (stopped) throw stopped;
      if (failure) {
        throw readFailure(
          target,
          failure.exitCode,
          failure.started ? failure.output : failure.message,
        );
      }
      if (!committed) {
        yield { header: { path: target } };
        for (const c of held) yield { data: c };
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The disk is mounted while its sandbox lives; after a host reboot it is mounted again. */
  private async mountDisk(inst: Instance, sandboxId: string): Promise<void> {
    try {
      await access(inst.disk.image);
      await inst.disk.mount();
    } catch (err) {
      throw new ContractError(
        "files_unavailable",
        `the disk of sandbox ${sandboxId} is not available on its host: ${(err as Error).message.split("\n")[0]}`,
      );
    }
  }

  /** Kills and deletes a reader container, and any process left in its cgroup. */
  private async remove(readerId: string): Promise<void> {
    const flags = [`--root=${this.options.stateDir}`];
    await runCommand(this.options.runsc, [...flags, "kill", readerId, "KILL"], {
      timeoutMs: 15_000,
    }).catch(() => {});
    await runCommand(this.options.runsc, [...flags, "delete", "--force", readerId], {
      timeoutMs: 30_000,
    }).catch(() => {});
    const cg = await Cgroup.open(cgroupPath(readerId)).catch(() => undefined);
    for (const pid of (await cg?.pids()) ?? []) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * What runs inside the reader: our busybox, argv only, the path after `--`, never a shell.
 * Only options busybox tar has: links are stored as links (no -h), owners as numbers.
 */
export function readerArgv(target: string, format: ReadFormat): string[] {
  if (format === "file") return [DISK_READER_GUEST_PATH, "cat", "--", target];
  const parent = path.posix.dirname(target);
  const base = path.posix.basename(target) || ".";
  return [DISK_READER_GUEST_PATH, "tar", "--numeric-owner", "-C", parent, "-cf", "-", "--", base];
}

function readFailure(target: string, code: number | null, stderr: string): Error {
  const text = stderr.trim().split("\n").slice(-5).join("; ");
  if (/No such file or directory|Not a directory/.test(text)) {
    return new ContractError("file_not_found", `${target}: no such file or directory`);
  }
  if (/Is a directory/.test(text)) {
    return invalidInput(`${target} is a directory: read it as an archive`);
  }
  // The path itself cannot be followed inside the sandbox: the request's fault, not the host's.
  if (/Too many levels of symbolic links|File name too long/.test(text)) {
    return invalidInput(`${target} cannot be read: ${text}`);
  }
  return new Error(`reading ${target} from the disk failed (exit ${code ?? "killed"}): ${text}`);
}
