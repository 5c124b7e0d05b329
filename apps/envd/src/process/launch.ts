import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { SystemUser } from "../users/passwd.js";

export interface LaunchSpec {
  binDir: string;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  user: SystemUser;
  pty?: { cols: number; rows: number };
  /** Non-PTY only: false gives the process /dev/null as stdin. */
  stdin: boolean;
}

/** What envd needs of a started command: a ChildProcess, or one started by the launcher. */
export interface LaunchedChild {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(
    event: "exit" | "close",
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): this;
}

export interface Launched {
  child: LaunchedChild;
  pid: number;
  /** fd 3 of wrenn-pty: resize commands in PTY mode. */
  control: Writable & Readable;
  /** The process's output and end, caught from the moment it was spawned. */
  output: CaughtOutput;
}

export type OutputFd = "stdout" | "stderr";

export interface OutputSink {
  data(fd: OutputFd, data: Buffer): void;
  close(code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * Output read before anyone asked for it. A short command can exit before the launcher's
 * report arrives, and Node then resumes every stdio stream nobody listens to (flushStdio, so
 * the child can emit 'close'): output read that way is gone, and so is the 'close'. Listening
 * from the spawn on, and handing over what came early, loses neither.
 */
export class CaughtOutput {
  #early: Array<[OutputFd, Buffer]> = [];
  #closed: [number | null, NodeJS.Signals | null] | undefined;
  #sink: OutputSink | undefined;

  constructor(child: LaunchedChild) {
    child.stdout?.on("data", (data: Buffer) => this.#data("stdout", data));
    child.stderr?.on("data", (data: Buffer) => this.#data("stderr", data));
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.#sink) this.#sink.close(code, signal);
      else this.#closed = [code, signal];
    });
  }

  #data(fd: OutputFd, data: Buffer): void {
    if (this.#sink) this.#sink.data(fd, data);
    else this.#early.push([fd, data]);
  }

  /** Delivers what came so far, then everything later, to `sink` (once). */
  attach(sink: OutputSink): void {
    this.#sink = sink;
    for (const [fd, data] of this.#early.splice(0)) sink.data(fd, data);
    if (this.#closed) sink.close(...this.#closed);
  }
}

export class LaunchError extends Error {}

/** The resident launcher could not start anything (its socket is gone): spawn instead. */
export class LauncherUnavailableError extends LaunchError {}

// Switching credentials needs root; when envd is not root it can only run as itself.
export function credentialArgs(user: SystemUser): string[] {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    if (process.getuid?.() !== user.uid) {
      throw new LaunchError(`cannot run as '${user.username}': envd is not running as root`);
    }
    return [];
  }
  return ["--uid", String(user.uid), "--gid", String(user.gid), "--groups", user.groups.join(",")];
}

/** What launch() may use instead of spawning: the resident launcher (resident-launcher.ts). */
export interface CommandLauncher {
  readonly ready: boolean;
  launch(spec: LaunchSpec): Promise<Launched>;
}

/**
 * Starts a command and resolves once it is running, with the pid of the command itself: a
 * non-PTY command through the resident launcher when it is ready, else (and in PTY mode)
 * through a spawn of wrenn-pty (see native/wrenn-pty.c). Its output and end are caught from
 * the start on and given to whoever attaches to `output`.
 */
export function launch(spec: LaunchSpec, launcher?: CommandLauncher): Promise<Launched> {
  if (!spec.pty && launcher?.ready) {
    return launcher
      .launch(spec)
      .catch((error: unknown) =>
        error instanceof LauncherUnavailableError
          ? spawnThroughHelper(spec)
          : Promise.reject(error),
      );
  }
  return spawnThroughHelper(spec);
}

function spawnThroughHelper(spec: LaunchSpec): Promise<Launched> {
  const helper = join(spec.binDir, "wrenn-pty");
  const mode = spec.pty ? ["--pty", String(spec.pty.cols), String(spec.pty.rows)] : ["--exec"];
  const args = [...credentialArgs(spec.user), ...mode, "--", spec.cmd, ...spec.args];
  const stdinMode = spec.pty || spec.stdin ? "pipe" : "ignore";

  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(helper, args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: [stdinMode, "pipe", "pipe", "pipe"],
        argv0: "wrenn-pty",
      });
    } catch (error) {
      reject(new LaunchError(`cannot start process: ${(error as Error).message}`));
      return;
    }
    const output = new CaughtOutput(child);
    const control = child.stdio[3] as (Writable & Readable) | null;
    if (!control) {
      child.kill("SIGKILL");
      reject(new LaunchError("cannot start process: no control channel"));
      return;
    }
    let text = "";
    let settled = false;
    const settle = (error: Error | undefined, pid?: number) => {
      if (settled) return;
      settled = true;
      control.removeListener("data", onData);
      control.removeListener("end", onEnd);
      if (error) {
        reject(error);
      } else {
        resolve({ child, pid: pid as number, control, output });
      }
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const newline = text.indexOf("\n");
      if (newline < 0) return;
      const line = text.slice(0, newline);
      if (line.startsWith("pid ")) {
        settle(undefined, Number(line.slice(4)));
      } else {
        settle(new LaunchError(line.replace(/^error /, "")));
      }
    };
    // In --exec mode fd 3 closes at the exec: EOF without an error line means success.
    const onEnd = () => {
      if (spec.pty) {
        settle(new LaunchError("process launcher exited before reporting the process"));
      } else if (child.pid === undefined) {
        settle(new LaunchError("cannot start process"));
      } else {
        settle(undefined, child.pid);
      }
    };
    control.on("data", onData);
    control.on("end", onEnd);
    control.on("error", () => {});
    child.once("error", (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === "ENOENT" && error.path === helper
          ? `process launcher missing at ${helper} (set WRENN_ENVD_BIN_DIR)`
          : error.message;
      settle(new LaunchError(`cannot start process: ${reason}`));
    });
  });
}
