// sandbox.pty: interactive terminals (a login shell on a pseudo-terminal).
import { InvalidArgumentError } from "../errors.js";
import type { CommandHandle } from "./command-handle.js";
import { type CommandRequestOpts, checkPid, ProcessClient, pidSelector } from "./process-client.js";

export interface PtySize {
  cols: number;
  rows: number;
}

export interface PtyCreateOpts extends CommandRequestOpts, PtySize {
  /** Terminal output, raw bytes (escape sequences included). */
  onData: (data: Uint8Array) => unknown;
  /** Kill the terminal after this many ms (default 0: no limit). */
  timeoutMs?: number;
  user?: string;
  envs?: Record<string, string>;
  cwd?: string;
  /** The program to run (default: bash as a login shell). */
  cmd?: string;
  args?: string[];
}

export interface PtyConnectOpts extends CommandRequestOpts {
  onData: (data: Uint8Array) => unknown;
  /** Replay buffered output from this offset first (default 0: all envd still holds). */
  replayFrom?: number;
}

const TERMINAL_ENV = { TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

/** `sandbox.pty`: interactive terminals on a pseudo-terminal (raw bytes in and out). */
export class Pty extends ProcessClient {
  /** Starts a shell on a new pseudo-terminal of cols × rows. */
  async create(opts: PtyCreateOpts): Promise<CommandHandle> {
    checkSize(opts);
    return this.open(
      {
        start: {
          process: {
            cmd: opts.cmd ?? "/bin/bash",
            args: opts.args ?? (opts.cmd ? [] : ["-i", "-l"]),
            envs: { ...TERMINAL_ENV, ...opts.envs },
            ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
          },
          pty: { size: { cols: opts.cols, rows: opts.rows } },
        },
        timeoutMs: opts.timeoutMs ?? 0,
        user: opts.user,
      },
      { onPty: opts.onData },
      opts,
    );
  }

  /** Follows a terminal that is already running (after a restart of your program, say). */
  connect(pid: number, opts: PtyConnectOpts): Promise<CommandHandle> {
    checkPid(pid);
    return this.open({ pid, replayFrom: opts.replayFrom ?? 0 }, { onPty: opts.onData }, opts);
  }

  /** Keystrokes (or any bytes) to the terminal. */
  sendInput(pid: number, data: Uint8Array | string, opts: CommandRequestOpts = {}): Promise<void> {
    return this.writeInput(pid, "pty", data, opts);
  }

  /** Changes the terminal's size (the program gets SIGWINCH). */
  async resize(pid: number, size: PtySize, opts: CommandRequestOpts = {}): Promise<void> {
    checkSize(size);
    await this.unary(() =>
      this.rpc.update(
        { process: pidSelector(pid), pty: { size: { cols: size.cols, rows: size.rows } } },
        this.callOptions(opts),
      ),
    );
  }

  /** Ends the terminal (SIGKILL to its session). False when it was not running. */
  kill(pid: number, opts: CommandRequestOpts = {}): Promise<boolean> {
    return this.killProcess(pid, opts);
  }
}

function checkSize(size: PtySize): void {
  for (const [name, v] of [
    ["cols", size.cols],
    ["rows", size.rows],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65_535) {
      throw new InvalidArgumentError(
        "invalid_argument",
        `${name} must be an integer from 1 to 65535, got ${v}`,
      );
    }
  }
}
