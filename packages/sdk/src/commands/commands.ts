// sandbox.commands: run, start in the background, connect to, list, kill, and feed processes.
import type { CommandResult } from "../errors.js";
import { InvalidArgumentError } from "../errors.js";
import type { CommandCallbacks, CommandHandle } from "./command-handle.js";
import { type CommandRequestOpts, checkPid, ProcessClient, pidSelector } from "./process-client.js";

export type { CommandRequestOpts };

export interface CommandStartOpts extends CommandRequestOpts {
  /** Return a handle at once instead of waiting for the end. */
  background?: boolean;
  /** Working directory (default: the user's home). */
  cwd?: string;
  /** Linux user to run as (default: the sandbox's, `user`). */
  user?: string;
  envs?: Record<string, string>;
  /**
   * Stdout as text, as it arrives. Decoded as UTF-8 across chunks (a character split between
   * two chunks arrives whole); bytes that are not UTF-8 become U+FFFD: use `onStdoutBytes`
   * for binary output.
   */
  onStdout?: CommandCallbacks["onStdout"];
  /** Stderr as text, decoded like `onStdout`. */
  onStderr?: CommandCallbacks["onStderr"];
  /**
   * Stdout as raw bytes: every chunk exactly as envd sent it (Wrenn's addition to E2B's
   * options). Awaited when it returns a promise, which slows the stream down (backpressure).
   */
  onStdoutBytes?: CommandCallbacks["onStdoutBytes"];
  /** Stderr as raw bytes, like `onStdoutBytes`. */
  onStderrBytes?: CommandCallbacks["onStderrBytes"];
  /** Called when a dropped output stream was re-established. */
  onReconnect?: CommandCallbacks["onReconnect"];
  /** Keep stdin open for sendStdin (default false: stdin is /dev/null). */
  stdin?: boolean;
  /**
   * Kill the command after this many ms; then `wait()`/`run` reject with
   * CommandTimeoutError. Default 0: no limit (the sandbox's own lifetime still applies).
   */
  timeoutMs?: number;
  /** An id of your own for the process (commands.list shows it). */
  tag?: string;
}

export interface CommandConnectOpts extends CommandRequestOpts {
  /** Stdout as text (see CommandStartOpts.onStdout). */
  onStdout?: CommandCallbacks["onStdout"];
  onStderr?: CommandCallbacks["onStderr"];
  /** Stdout as raw bytes, exactly as envd sent them (see CommandStartOpts.onStdoutBytes). */
  onStdoutBytes?: CommandCallbacks["onStdoutBytes"];
  onStderrBytes?: CommandCallbacks["onStderrBytes"];
  onReconnect?: CommandCallbacks["onReconnect"];
  /**
   * Replay buffered output from this byte offset before following live output (default 0:
   * everything envd still holds, up to the last 4 MiB), so what the process printed before
   * you connected is not lost.
   */
  replayFrom?: number;
}

export interface ProcessInfo {
  pid: number;
  tag?: string;
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

/** `sandbox.commands`: shell commands in the sandbox, in the foreground or the background. */
export class Commands extends ProcessClient {
  /** Processes running in the sandbox (commands and terminals). */
  async list(opts: CommandRequestOpts = {}): Promise<ProcessInfo[]> {
    const res = await this.unary(() => this.rpc.list({}, this.callOptions(opts)));
    return res.processes.map((p) => ({
      pid: p.pid,
      ...(p.tag === undefined ? {} : { tag: p.tag }),
      cmd: p.config?.cmd ?? "",
      args: p.config?.args ?? [],
      envs: p.config?.envs ?? {},
      ...(p.config?.cwd === undefined ? {} : { cwd: p.config.cwd }),
    }));
  }

  /** Writes to the stdin of a process started with `stdin: true`. */
  sendStdin(pid: number, data: string | Uint8Array, opts: CommandRequestOpts = {}): Promise<void> {
    return this.writeInput(pid, "stdin", data, opts);
  }

  /** Closes the stdin of a process (it sees end-of-file). */
  async closeStdin(pid: number, opts: CommandRequestOpts = {}): Promise<void> {
    await this.unary(() =>
      this.rpc.closeStdin({ process: pidSelector(pid) }, this.callOptions(opts)),
    );
  }

  /** SIGKILL to the process and its whole session. False when no such process runs. */
  kill(pid: number, opts: CommandRequestOpts = {}): Promise<boolean> {
    return this.killProcess(pid, opts);
  }

  /**
   * Follows a running process's output (replaying what envd still holds first, see
   * `replayFrom`). The returned handle's `wait()` gives its result.
   */
  async connect(pid: number, opts: CommandConnectOpts = {}): Promise<CommandHandle> {
    checkPid(pid);
    return this.open({ pid, replayFrom: opts.replayFrom ?? 0 }, opts, opts);
  }

  /**
   * Runs a shell command line (`/bin/bash -l -c CMD`). In the foreground it resolves with the
   * result on exit code 0 and rejects with CommandExitError otherwise; with `background: true`
   * it resolves with a handle as soon as the process started.
   */
  run(cmd: string, opts?: CommandStartOpts & { background?: false }): Promise<CommandResult>;
  run(cmd: string, opts: CommandStartOpts & { background: true }): Promise<CommandHandle>;
  run(cmd: string, opts?: CommandStartOpts): Promise<CommandHandle | CommandResult>;
  async run(cmd: string, opts: CommandStartOpts = {}): Promise<CommandHandle | CommandResult> {
    const handle = await this.start(cmd, opts);
    return opts.background ? handle : handle.wait();
  }

  /** Starts a command and returns its handle at once (run with `background: true`). */
  async start(cmd: string, opts: CommandStartOpts = {}): Promise<CommandHandle> {
    if (typeof cmd !== "string" || cmd.length === 0) {
      throw new InvalidArgumentError("invalid_argument", "the command must be a non-empty string");
    }
    const timeoutMs = opts.timeoutMs ?? 0;
    checkTimeout(timeoutMs);
    return this.open(
      {
        start: {
          process: {
            cmd: "/bin/bash",
            args: ["-l", "-c", cmd],
            envs: opts.envs ?? {},
            ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
          },
          stdin: opts.stdin ?? false,
          ...(opts.tag === undefined ? {} : { tag: opts.tag }),
        },
        timeoutMs,
        user: opts.user,
        cmd,
      },
      opts,
      opts,
    );
  }
}

function checkTimeout(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `timeoutMs must be a number of milliseconds >= 0 (0: no limit), got ${ms}`,
    );
  }
}
