import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "../log/logger.js";
import {
  effectiveAvailable,
  type GuestProcess,
  type MemInfo,
  OOM_POLL_MS,
  parseMemInfo,
  pickVictims,
  thresholdsFor,
} from "./oom-policy.js";

// A user-space OOM killer inside the sandbox (the earlyoom / systemd-oomd design). gVisor's
// sentry has no OOM killer of its own and only the host cgroup enforces the sandbox's memory;
// the host's OOM killer then picks among the sentry, gofer and stub processes, and a Node hog
// took the whole sandbox down with it. This guard kills the largest guest process first, while
// the sandbox still has room, so the kernel-side limit stays a backstop.

const PAGE_BYTES = 4096;
/** After a kill, how long to wait for the victim to go before choosing another. */
const VICTIM_GRACE_MS = 2_000;

export interface OomKill {
  /** The largest process killed (alone, or with the rest of its session). */
  pid: number;
  command: string;
  /** Every process killed: one, or a whole session (a fork bomb, a swarm). */
  killed: number[];
  rssBytes: number;
  availableBytes: number;
  totalBytes: number;
}

export interface OomGuardOptions {
  log: Pick<Logger, "debug" | "warn" | "error">;
  /** envd's helpers (wrenn-pty, wrenn-inotify, wrenn-files) live here: never victims. */
  binDir: string;
  /** Called after each kill (the process's own end is reported by whoever started it). */
  onKill?: (kill: OomKill) => void;
  /** For tests: the guest's memory, and the processes the guard may consider. */
  readMemInfo?: () => MemInfo | undefined;
  listProcesses?: () => GuestProcess[];
  countProcesses?: () => number;
}

export class OomGuard {
  readonly #opts: OomGuardOptions;
  readonly #readMemInfo: () => MemInfo | undefined;
  readonly #listProcesses: () => GuestProcess[];
  readonly #countProcesses: () => number;
  #timer: NodeJS.Timeout | undefined;
  #lastVictim: { pid: number; at: number } | undefined;
  /** What the last look found available (after the per-process cost), to see it falling. */
  #lastAvailable: number | undefined;

  constructor(opts: OomGuardOptions) {
    this.#opts = opts;
    this.#readMemInfo = opts.readMemInfo ?? readGuestMemInfo;
    this.#listProcesses = opts.listProcesses ?? (() => listGuestProcesses(opts.binDir));
    this.#countProcesses =
      opts.countProcesses ??
      (opts.listProcesses ? () => this.#listProcesses().length : countGuestProcesses);
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      let next: number = OOM_POLL_MS.calm;
      try {
        next = this.check();
      } catch (error) {
        this.#opts.log.error({ err: error }, "oom guard check failed");
      }
      this.#timer = setTimeout(tick, next);
      // The guard must never be what keeps envd (or a test) alive.
      this.#timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One look at memory; kills at most one victim. Returns the delay before the next look. */
  check(): number {
    const mem = this.#readMemInfo();
    if (!mem) return OOM_POLL_MS.calm;
    const count = this.#countProcesses();
    const { killBelowBytes, watchBelowBytes } = thresholdsFor(mem.totalBytes);
    const available = effectiveAvailable(mem, count);
    // The first look under the watch line counts as falling: nothing says it is holding yet.
    const falling = this.#lastAvailable === undefined || available < this.#lastAvailable;
    this.#lastAvailable = available;
    if (available >= watchBelowBytes) return OOM_POLL_MS.calm;
    this.#opts.log.debug(
      {
        event: "oom_watch",
        availableBytes: mem.availableBytes,
        effectiveBytes: available,
        processes: count,
      },
      "memory is short",
    );
    if (available >= killBelowBytes) return falling ? OOM_POLL_MS.pressed : OOM_POLL_MS.steady;
    // One shortage, one victim: give the last one time to go and give its memory back.
    const last = this.#lastVictim;
    if (last && Date.now() - last.at < VICTIM_GRACE_MS && isAlive(last.pid)) {
      return OOM_POLL_MS.pressed;
    }
    const victims = pickVictims(this.#listProcesses());
    if (victims.length > 0) this.#kill(victims, mem, killBelowBytes);
    return OOM_POLL_MS.pressed;
  }

  #kill(victims: GuestProcess[], mem: MemInfo, killBelowBytes: number): void {
    const largest = victims.reduce((a, b) => (b.rssBytes > a.rssBytes ? b : a));
    const command = commandOf(largest.pid);
    const killed = victims.filter((v) => signal(v.pid));
    // A swarm forks on while it is being killed: its process group goes too (a command's
    // session leader leads a group of the same id), unless a protected process is in it.
    const sid = largest.sid;
    if (
      victims.length > 1 &&
      sid > 1 &&
      !this.#listProcesses().some((p) => p.protected && p.sid === sid)
    ) {
      signal(-sid);
    }
    if (killed.length === 0) return; // they ended on their own meanwhile
    if (victims.length === 1) this.#lastVictim = { pid: largest.pid, at: Date.now() };
    const kill: OomKill = {
      pid: largest.pid,
      command,
      killed: killed.map((v) => v.pid),
      rssBytes: killed.reduce((sum, v) => sum + v.rssBytes, 0),
      availableBytes: mem.availableBytes,
      totalBytes: mem.totalBytes,
    };
    this.#opts.log.warn(
      { event: "oom_kill", ...kill, killed: kill.killed.length, killBelowBytes },
      victims.length === 1
        ? "out of memory: killed the largest process"
        : "out of memory: killed the session holding the most memory",
    );
    this.#opts.onKill?.(kill);
  }
}

function signal(pid: number): boolean {
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

function readGuestMemInfo(): MemInfo | undefined {
  try {
    return parseMemInfo(readFileSync("/proc/meminfo", "utf8"));
  } catch {
    return undefined;
  }
}

/** Every guest process with its session and resident size; envd, PID 1 and helpers protected. */
export function listGuestProcesses(binDir: string, procRoot = "/proc"): GuestProcess[] {
  const protectedPids = new Set([1, process.pid, process.ppid]);
  const helperDir = resolve(binDir);
  const found: GuestProcess[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let rssBytes: number;
    let sid: number;
    try {
      rssBytes =
        Number(readFileSync(`${procRoot}/${name}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
      // Fields after the command's closing parenthesis: state ppid pgrp session ...
      const stat = readFileSync(`${procRoot}/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // A zombie is dead already (its parent has yet to reap it): nothing to kill or count.
      if (fields[0] === "Z" || fields[0] === "X") continue;
      sid = Number(fields[3]);
    } catch {
      continue; // gone meanwhile
    }
    if (!Number.isFinite(rssBytes) || !Number.isInteger(sid)) continue;
    found.push({
      pid,
      sid,
      rssBytes,
      protected: protectedPids.has(pid) || runsFrom(procRoot, pid, helperDir),
    });
  }
  return found;
}

function runsFrom(procRoot: string, pid: number, dir: string): boolean {
  try {
    return dirname(readlinkSync(`${procRoot}/${pid}/exe`)) === dir;
  } catch {
    return false;
  }
}

/** How many processes the guest has: a cheap directory read, without opening each. */
export function countGuestProcesses(procRoot = "/proc"): number {
  return readdirSync(procRoot).filter((name) => /^\d+$/.test(name)).length;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return cmdline.join(" ").slice(0, 256);
  } catch {
    return "";
  }
}
