import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "../log/logger.js";
import {
  type GuestProcess,
  type MemInfo,
  OOM_POLL_MS,
  parseMemInfo,
  pickVictim,
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
  pid: number;
  command: string;
  rssBytes: number;
  availableBytes: number;
  totalBytes: number;
}

export interface OomGuardOptions {
  log: Pick<Logger, "warn" | "error">;
  /** envd's helpers (wrenn-pty, wrenn-inotify, wrenn-files) live here: never victims. */
  binDir: string;
  /** Called after each kill (the process's own end is reported by whoever started it). */
  onKill?: (kill: OomKill) => void;
  /** For tests: the guest's memory, and the processes the guard may consider. */
  readMemInfo?: () => MemInfo | undefined;
  listProcesses?: () => GuestProcess[];
}

export class OomGuard {
  readonly #opts: OomGuardOptions;
  readonly #readMemInfo: () => MemInfo | undefined;
  readonly #listProcesses: () => GuestProcess[];
  #timer: NodeJS.Timeout | undefined;
  #lastVictim: { pid: number; at: number } | undefined;

  constructor(opts: OomGuardOptions) {
    this.#opts = opts;
    this.#readMemInfo = opts.readMemInfo ?? readGuestMemInfo;
    this.#listProcesses = opts.listProcesses ?? (() => listGuestProcesses(opts.binDir));
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

  /** One look at memory; kills at most one process. Returns the delay before the next look. */
  check(): number {
    const mem = this.#readMemInfo();
    if (!mem) return OOM_POLL_MS.calm;
    const { killBelowBytes, watchBelowBytes } = thresholdsFor(mem.totalBytes);
    if (mem.availableBytes >= watchBelowBytes) return OOM_POLL_MS.calm;
    if (mem.availableBytes >= killBelowBytes) return OOM_POLL_MS.pressed;
    // One shortage, one victim: give the last one time to go and give its memory back.
    const last = this.#lastVictim;
    if (last && Date.now() - last.at < VICTIM_GRACE_MS && isAlive(last.pid)) {
      return OOM_POLL_MS.pressed;
    }
    const victim = pickVictim(this.#listProcesses());
    if (!victim) return OOM_POLL_MS.pressed;
    const command = commandOf(victim.pid);
    try {
      process.kill(victim.pid, "SIGKILL");
    } catch {
      return OOM_POLL_MS.pressed; // it ended on its own meanwhile
    }
    this.#lastVictim = { pid: victim.pid, at: Date.now() };
    const kill: OomKill = {
      pid: victim.pid,
      command,
      rssBytes: victim.rssBytes,
      availableBytes: mem.availableBytes,
      totalBytes: mem.totalBytes,
    };
    this.#opts.log.warn(
      { event: "oom_kill", ...kill, killBelowBytes },
      "out of memory: killed the largest process",
    );
    this.#opts.onKill?.(kill);
    return OOM_POLL_MS.pressed;
  }
}

function readGuestMemInfo(): MemInfo | undefined {
  try {
    return parseMemInfo(readFileSync("/proc/meminfo", "utf8"));
  } catch {
    return undefined;
  }
}

/** Every guest process with its resident size; envd, PID 1, its parents and helpers protected. */
export function listGuestProcesses(binDir: string, procRoot = "/proc"): GuestProcess[] {
  const protectedPids = new Set([1, process.pid, process.ppid]);
  const helperDir = resolve(binDir);
  const found: GuestProcess[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let rssBytes: number;
    try {
      rssBytes =
        Number(readFileSync(`${procRoot}/${name}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
    } catch {
      continue; // gone meanwhile
    }
    if (!Number.isFinite(rssBytes)) continue;
    found.push({
      pid,
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
