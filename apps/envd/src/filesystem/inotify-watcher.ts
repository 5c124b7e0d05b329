import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { EventType } from "@wrenn/proto/filesystem";
import { credentialArgs } from "../process/launch.js";
import type { SystemUser } from "../users/passwd.js";
import { FileOpError } from "./as-user.js";

// Runs native/wrenn-inotify for one directory as the requesting user (through wrenn-pty, with
// the user's uid, gid and groups, as as-user.ts does for file operations) and turns its
// records into E2B event types, the way E2B's envd maps fsnotify operations. The user's
// rights are checked by the kernel as it adds each watch: no separate check to race.

const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_MOVED_FROM = 0x40;
const IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_DELETE_SELF = 0x400;
const IN_MOVE_SELF = 0x800;

export interface RawFsEvent {
  path: string;
  types: EventType[];
}

/** One inotify event can mean several E2B events; the order is E2B's. */
export function eventTypesOf(mask: number): EventType[] {
  const types: EventType[] = [];
  if (mask & (IN_CREATE | IN_MOVED_TO)) types.push(EventType.CREATE);
  if (mask & (IN_MOVED_FROM | IN_MOVE_SELF)) types.push(EventType.RENAME);
  if (mask & IN_ATTRIB) types.push(EventType.CHMOD);
  if (mask & IN_MODIFY) types.push(EventType.WRITE);
  if (mask & (IN_DELETE | IN_DELETE_SELF)) types.push(EventType.REMOVE);
  return types;
}

export interface WatcherHandlers {
  event(event: RawFsEvent): void;
  /** The watch stopped for good; `error` is set unless it was stopped on purpose. */
  closed(error?: Error): void;
}

/** A failure line of the helper ("error ERRNO_NAME MESSAGE") as a FileOpError. */
function recordError(record: string): FileOpError {
  const match = /^error (E[A-Z0-9]+) (.*)$/s.exec(record);
  return new FileOpError(match?.[1] ?? "EIO", match?.[2] ?? record.slice(6));
}

export class InotifyWatcher {
  readonly #child: ChildProcess;
  /** Resolves once every watch is in place, with the statfs type of the watched directory. */
  readonly ready: Promise<number>;
  #stopped = false;

  constructor(
    binDir: string,
    user: SystemUser,
    dir: string,
    recursive: boolean,
    handlers: WatcherHandlers,
  ) {
    const helper = join(binDir, "wrenn-inotify");
    // fd 3: wrenn-pty's own failures (switching credentials, exec), before the helper runs.
    this.#child = spawn(
      join(binDir, "wrenn-pty"),
      [...credentialArgs(user), "--exec", "--", helper, ...(recursive ? ["-r", dir] : [dir])],
      { cwd: "/", env: {}, stdio: ["pipe", "pipe", "ignore", "pipe"] },
    );
    let launcher = "";
    const control = this.#child.stdio[3] as Readable | null;
    control?.setEncoding("utf8");
    control?.on("data", (chunk: string) => {
      launcher += chunk;
    });
    control?.on("error", () => {});
    let resolveReady!: (fsType: number) => void;
    let rejectReady!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => {});
    let isReady = false;
    let lastError: Error | undefined;
    let pending: Buffer = Buffer.alloc(0);
    this.#child.stdout?.on("data", (data: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      for (;;) {
        const nul = pending.indexOf(0);
        if (nul < 0) break;
        const record = pending.subarray(0, nul).toString("utf8");
        pending = pending.subarray(nul + 1);
        if (record.startsWith("ready ")) {
          isReady = true;
          resolveReady(Number.parseInt(record.slice(6), 16));
        } else if (record.startsWith("error ")) {
          lastError = recordError(record);
        } else {
          const space = record.indexOf(" ");
          const mask = Number.parseInt(record.slice(0, space), 16);
          const types = eventTypesOf(mask);
          if (space > 0 && types.length > 0)
            handlers.event({ path: record.slice(space + 1), types });
        }
      }
    });
    this.#child.stdin?.on("error", () => {});
    this.#child.once("error", (error) => {
      lastError = new Error(`cannot start the file watcher at ${helper}: ${error.message}`);
    });
    this.#child.once("close", (_code, signal) => {
      const launchError = launcher.trim()
        ? new FileOpError("EIO", launcher.trim().replace(/^error /, ""))
        : undefined;
      // The helper runs as the watching user, whose own processes can kill it: that ends this
      // watch (the caller sees why), never anyone else's.
      const killed = signal
        ? new Error(`the file watcher was killed (${signal}); watch the directory again`)
        : undefined;
      const error = this.#stopped
        ? undefined
        : (lastError ?? launchError ?? killed ?? new Error("the watched directory is gone"));
      if (!isReady) rejectReady(error ?? new Error("watch stopped"));
      handlers.closed(error);
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#child.stdin?.end();
    this.#child.kill("SIGTERM");
  }
}
