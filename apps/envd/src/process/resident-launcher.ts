import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { Logger } from "../log/logger.js";
import {
  CaughtOutput,
  credentialArgs,
  LaunchError,
  type Launched,
  type LaunchedChild,
  LauncherUnavailableError,
  type LaunchSpec,
} from "./launch.js";

/**
 * envd's side of wrenn-launcher (native/wrenn-launcher.c): one small native process, started
 * once, that forks and execs each non-PTY command, because Node's own spawn forks all of Node
 * (~100 ms under gVisor against ~25 ms for a small process; bench/README.md). The command's
 * stdio are unix-socket connections the launcher makes to a socket envd listens on, each
 * announced by a one-time token, so output flows to envd directly as with spawn's socket pairs.
 * While it is not ready, or after it died, `ready` is false and envd spawns as before.
 */

// A connection that has not said whose stream it is within this time is dropped.
const HEADER_TIMEOUT_MS = 30_000;
const MAX_HEADER_BYTES = 128;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

// A directory only envd's user can enter (mkdtemp makes it 0700), on a tmpfs inside the
// sandbox: a socket bound on the root filesystem would be a file on the host's disk, which a
// gVisor checkpoint cannot carry to a restore. The temp dir is the last resort (off gVisor).
function socketDir(): string {
  for (const base of ["/dev/shm", "/dev"]) {
    try {
      return mkdtempSync(join(base, "wrenn-launch-"));
    } catch {
      // not there, or not ours to write: the next one
    }
  }
  return mkdtempSync(join(tmpdir(), "wrenn-launch-"));
}

/** A command started by the launcher, seen by envd like a ChildProcess (streams, exit, close). */
class LauncherChild extends EventEmitter implements LaunchedChild {
  stdin: Socket | null = null;
  stdout: Socket | null = null;
  stderr: Socket | null = null;
  #exit: [number | null, NodeJS.Signals | null] | undefined;
  #open = 2;

  /** Once the streams are in place: 'close' follows the exit and both output streams' end. */
  watch(): void {
    for (const stream of [this.stdout, this.stderr]) {
      stream?.once("close", () => {
        this.#open--;
        this.#maybeClose();
      });
    }
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit) return;
    this.#exit = [code, signal];
    this.emit("exit", code, signal);
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#exit && this.#open === 0) this.emit("close", ...this.#exit);
  }
}

interface Pending {
  child: LauncherChild;
  expected: number;
  arrived: number;
  pid?: number;
  early?: [number | null, NodeJS.Signals | null];
  resolve(launched: Launched): void;
  reject(error: Error): void;
}

export class ResidentLauncher {
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  readonly #byPid = new Map<number, Pending>();
  readonly #running = new Map<number, LauncherChild>();
  #server: Server | undefined;
  #process: ChildProcess | undefined;
  #control: Socket | undefined;
  #ready = false;
  #settleStarted: (up: boolean) => void = () => {};
  /** Resolves true once the launcher is ready, false if it could not start. */
  readonly started = new Promise<boolean>((resolve) => {
    this.#settleStarted = resolve;
  });

  private constructor(log: Logger) {
    this.#log = log;
  }

  /** Starts the launcher in the background; until it reports ready, `ready` is false. */
  static start(binDir: string, log: Logger): ResidentLauncher {
    const launcher = new ResidentLauncher(log);
    let dir: string;
    try {
      dir = socketDir();
    } catch (error) {
      launcher.#died(`no directory for its socket: ${(error as Error).message}`);
      return launcher;
    }
    launcher.#begin(join(binDir, "wrenn-launcher"), dir);
    return launcher;
  }

  get ready(): boolean {
    return this.#ready;
  }

  #begin(helper: string, dir: string): void {
    const path = join(dir, "s");
    const server = createServer((socket) => this.#accept(socket));
    server.unref();
    this.#server = server;
    server.once("error", (error) => this.#died(`cannot listen for its streams: ${error.message}`));
    server.once("close", () => rmSync(dir, { recursive: true, force: true }));
    server.listen(path, () => {
      const child = spawn(helper, [path], {
        stdio: ["ignore", "ignore", "pipe", "pipe"],
        argv0: "wrenn-launcher",
      });
      this.#process = child;
      child.unref();
      child.once("error", (error) => this.#died(error.message));
      child.once("exit", (code, signal) => this.#died(`exited (${signal ?? code})`));
      child.stderr?.on("data", (data: Buffer) =>
        this.#log.warn({ message: data.toString("utf8").trim() }, "process launcher"),
      );
      (child.stderr as Socket | null)?.unref();
      const control = child.stdio[3] as Socket | null;
      if (!control) return;
      control.unref();
      this.#control = control;
      let text = "";
      control.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        let newline = text.indexOf("\n");
        while (newline >= 0) {
          this.#answer(text.slice(0, newline));
          text = text.slice(newline + 1);
          newline = text.indexOf("\n");
        }
      });
      control.on("error", () => {});
      control.once("close", () => this.#died("closed its control channel"));
    });
  }

  #died(reason: string): void {
    const wasUp = this.#ready || this.#process !== undefined;
    this.#ready = false;
    this.#settleStarted(false);
    this.#process?.kill("SIGKILL");
    this.#process = undefined;
    this.#control = undefined;
    this.#server?.close();
    if (wasUp) {
      this.#log.error({ reason }, "process launcher gone; starting each command with spawn");
    }
    for (const pending of this.#pending.values()) {
      for (const stream of [pending.child.stdin, pending.child.stdout, pending.child.stderr]) {
        stream?.destroy();
      }
      pending.reject(new LaunchError("the process launcher exited; start the process again"));
    }
    this.#pending.clear();
    this.#byPid.clear();
    // Their exit codes are lost with the launcher; their output still ends when they do.
    for (const child of this.#running.values()) child.exited(null, null);
    this.#running.clear();
  }

  #answer(line: string): void {
    const [kind, ...rest] = line.split(" ");
    if (kind === "ready") {
      this.#ready = true;
      this.#settleStarted(true);
      this.#log.info({ pid: this.#process?.pid }, "process launcher ready");
    } else if (kind === "pid") {
      const pending = this.#pending.get(rest[0] ?? "");
      const pid = Number(rest[1]);
      if (!pending || !Number.isInteger(pid) || pid <= 0) return;
      pending.pid = pid;
      this.#byPid.set(pid, pending);
      this.#complete(rest[0] as string, pending);
    } else if (kind === "error" || kind === "unavailable") {
      const token = rest[0] ?? "";
      const pending = this.#pending.get(token);
      if (!pending) return;
      this.#pending.delete(token);
      for (const stream of [pending.child.stdin, pending.child.stdout, pending.child.stderr]) {
        stream?.destroy();
      }
      const message = rest.slice(1).join(" ");
      if (kind === "error") {
        pending.reject(new LaunchError(message));
        return;
      }
      pending.reject(new LauncherUnavailableError(message));
      // Its socket is gone (removed from under it): every later command would fail the same.
      this.#died(message);
    } else if (kind === "exit") {
      const pid = Number(rest[0]);
      const code = Number(rest[1]);
      const signal = SIGNAL_NAMES.get(Number(rest[2])) ?? null;
      const status: [number | null, NodeJS.Signals | null] = signal ? [null, signal] : [code, null];
      const running = this.#running.get(pid);
      if (running) {
        this.#running.delete(pid);
        running.exited(...status);
        return;
      }
      // Reported before all of its streams were accepted: kept for when they are.
      const pending = this.#byPid.get(pid);
      if (pending) pending.early = status;
    }
  }

  /** A stdio connection from the launcher: "TOKEN FD\n", then the stream itself. */
  #accept(socket: Socket): void {
    socket.on("error", () => {});
    socket.setTimeout(HEADER_TIMEOUT_MS, () => socket.destroy());
    let header = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      header = Buffer.concat([header, chunk]);
      const newline = header.indexOf(0x0a);
      if (newline < 0) {
        if (header.length > MAX_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.removeListener("data", onData);
      socket.pause();
      socket.setTimeout(0);
      const rest = header.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      const [token = "", fd] = header.subarray(0, newline).toString("latin1").split(" ");
      const pending = this.#pending.get(token);
      const slot = fd === "0" ? "stdin" : fd === "1" ? "stdout" : fd === "2" ? "stderr" : "";
      if (!pending || slot === "" || pending.child[slot] !== null) {
        socket.destroy();
        return;
      }
      pending.child[slot] = socket;
      pending.arrived++;
      this.#complete(token, pending);
    };
    socket.on("data", onData);
  }

  #complete(token: string, pending: Pending): void {
    if (pending.pid === undefined || pending.arrived < pending.expected) return;
    this.#pending.delete(token);
    this.#byPid.delete(pending.pid);
    const child = pending.child;
    child.watch();
    const output = new CaughtOutput(child);
    // Paused while their header was read: flowing again now that someone listens.
    child.stdout?.resume();
    child.stderr?.resume();
    // Input only goes one way; reading keeps its end seen when the command closes it.
    child.stdin?.resume();
    if (pending.early) child.exited(...pending.early);
    else this.#running.set(pending.pid, child);
    // fd 3 of wrenn-pty carries resizes in PTY mode only; a command started here has none.
    const control = new PassThrough();
    pending.resolve({ child, pid: pending.pid, control, output });
  }

  /** Starts a non-PTY command; rejects with LaunchError when it cannot run. */
  launch(spec: LaunchSpec): Promise<Launched> {
    const control = this.#control;
    if (!this.#ready || !control || spec.pty) {
      return Promise.reject(new LaunchError("process launcher not ready"));
    }
    let creds: string[];
    try {
      creds = credentialArgs(spec.user);
    } catch (error) {
      return Promise.reject(error);
    }
    const token = randomBytes(16).toString("hex");
    const env = Object.entries(spec.env).map(([key, value]) => `${key}=${value}`);
    const fields = [
      token,
      creds.length > 0 ? "1" : "0",
      String(spec.user.uid),
      String(spec.user.gid),
      spec.user.groups.join(","),
      spec.cwd,
      spec.stdin ? "1" : "0",
      String(1 + spec.args.length),
      spec.cmd,
      ...spec.args,
      String(env.length),
      ...env,
    ];
    for (const field of fields) {
      if (field.includes("\0")) {
        return Promise.reject(new LaunchError("command, arguments and env must not contain NUL"));
      }
    }
    const body = Buffer.from(`${fields.join("\0")}\0`, "utf8");
    return new Promise((resolve, reject) => {
      this.#pending.set(token, {
        child: new LauncherChild(),
        expected: spec.stdin ? 3 : 2,
        arrived: 0,
        resolve,
        reject,
      });
      control.write(Buffer.concat([Buffer.from(`${body.length}\n`), body]));
    });
  }
}
