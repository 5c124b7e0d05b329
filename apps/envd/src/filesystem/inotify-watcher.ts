import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { EventType } from "@wrenn/proto/filesystem";

// Runs native/wrenn-inotify for one directory and turns its records into E2B event types,
// the way E2B's envd maps fsnotify operations.

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

export class InotifyWatcher {
  readonly #child: ChildProcess;
  readonly ready: Promise<void>;
  #stopped = false;

  constructor(binDir: string, dir: string, recursive: boolean, handlers: WatcherHandlers) {
    const helper = join(binDir, "wrenn-inotify");
    this.#child = spawn(helper, recursive ? ["-r", dir] : [dir], {
      stdio: ["pipe", "pipe", "ignore"],
      argv0: "wrenn-inotify",
    });
    let resolveReady!: () => void;
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
        if (record === "ready") {
          isReady = true;
          resolveReady();
        } else if (record.startsWith("error ")) {
          lastError = new Error(record.slice(6));
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
    this.#child.once("close", () => {
      const error = this.#stopped
        ? undefined
        : (lastError ?? new Error("the watched directory is gone"));
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
