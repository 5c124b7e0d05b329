// What the OOM guard decides, apart from reading /proc and sending signals: when memory is
// short, and which process pays for it. Figures measured under runsc 0.0~20240729 (systrap):
//
// - The guest's /proc/meminfo reports MemTotal = the host cgroup's limit (runsc passes it as
//   --total-memory: the user's memory plus the agent's sentry overhead), and MemAvailable falls
//   page for page with the guest's resident memory, with no lag we could see.
// - The host cgroup also holds the sentry and gofer: at the moment the host OOM killer fired,
//   the guest still read 28 MiB available (host usage ≈ guest use + 30 MiB). So the guard has to
//   act well before MemAvailable reaches zero.
// - A hog touching memory in a loop grows by ≈ 250 MiB/s under gVisor (Node and Python alike); reading
//   /proc/meminfo costs ≈ 0.7 ms and a scan of every /proc/PID/statm ≈ 2 ms: polling is cheap.

const MiB = 1024 * 1024;

export interface OomThresholds {
  /** Kill when MemAvailable falls under this. */
  killBelowBytes: number;
  /** Poll fast when MemAvailable falls under this. */
  watchBelowBytes: number;
}

/**
 * 96 MiB + 5 % of the guest's memory, at most 128 MiB: the ≈ 30 MiB the sentry and gofer hold
 * outside the guest's accounting, plus ≈ 300 ms of a hog's growth (≈ 250 MiB/s measured for
 * Node and Python hogs) should envd be slow to run on a busy host. With the agent's default
 * overhead (128 MiB, included in MemTotal) the user keeps every MiB asked for.
 */
export function thresholdsFor(totalBytes: number): OomThresholds {
  const killBelowBytes = Math.min(96 * MiB + Math.floor(totalBytes * 0.05), 128 * MiB);
  return { killBelowBytes, watchBelowBytes: killBelowBytes * 2 };
}

/**
 * What each guest process costs the host outside the guest's MemAvailable (the sentry's task
 * state, its stub process and page tables). Measured: going from 100 to 300 sleeping processes
 * took the host cgroup up by 129 MiB while the guest's MemAvailable fell by only 41 MiB, so
 * ≈ 440 KiB each. Without it a fork bomb reaches the host's limit while the guest still reads
 * 170 MiB available.
 */
export const SENTRY_BYTES_PER_PROCESS = 448 * 1024;

/** MemAvailable less what the sentry holds for `processes` guest processes. */
export function effectiveAvailable(mem: MemInfo, processes: number): number {
  return mem.availableBytes - processes * SENTRY_BYTES_PER_PROCESS;
}

/**
 * Poll intervals: slow while memory is plentiful; under watchBelowBytes, fast while available
 * memory is falling and `steady` while it holds (a workload that merely sits near the line must
 * not keep envd reading /proc 40 times a second: ≈ 5 % of a vCPU). From `steady`, a hog at
 * ≈ 250 MiB/s is seen falling within 25 MiB, well before the kill line (watch − kill ≈ 100 MiB).
 */
export const OOM_POLL_MS = { calm: 250, steady: 100, pressed: 25 } as const;

/** Below this a process is not worth killing: it would not give back enough to matter. */
export const OOM_MIN_VICTIM_BYTES = 8 * MiB;

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

/** MemTotal and MemAvailable (MemFree when the kernel has no MemAvailable) from /proc/meminfo. */
export function parseMemInfo(text: string): MemInfo | undefined {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\w+):\s+(\d+) kB$/.exec(line.trim());
    if (match) fields.set(match[1] as string, Number(match[2]) * 1024);
  }
  const totalBytes = fields.get("MemTotal");
  const availableBytes = fields.get("MemAvailable") ?? fields.get("MemFree");
  if (totalBytes === undefined || availableBytes === undefined) return undefined;
  return { totalBytes, availableBytes };
}

export interface GuestProcess {
  pid: number;
  /** Session id: envd starts every command in a session of its own (wrenn-pty setsid). */
  sid: number;
  rssBytes: number;
  /** envd itself, PID 1 (tini) or one of envd's helpers: never a victim. */
  protected: boolean;
}

/**
 * What to kill. The session (one command and what it started) holding the most memory pays.
 * Within it, the largest process alone when it holds a fair share of the session's memory, as
 * the kernel's OOM killer would pick (its badness is mostly RSS) and as a user of E2B expects
 * (the shell around a hog carries on and sees it killed). When no process stands out (a fork
 * bomb, a swarm of small workers), killing one frees nothing that lasts: the whole session goes,
 * as systemd-oomd takes a whole unit. Empty when nothing is big enough to matter: memory held
 * elsewhere (/dev/shm, the page cache) is not given back by killing a small process.
 */
export function pickVictims(processes: readonly GuestProcess[]): GuestProcess[] {
  const sessions = new Map<number, { total: number; members: GuestProcess[] }>();
  for (const p of processes) {
    if (p.protected) continue;
    const s = sessions.get(p.sid) ?? { total: 0, members: [] };
    s.total += p.rssBytes;
    s.members.push(p);
    sessions.set(p.sid, s);
  }
  // Between two of one size, the newer (the higher session id).
  let worst: { total: number; members: GuestProcess[] } | undefined;
  let worstSid = -1;
  for (const [sid, s] of sessions) {
    if (!worst || s.total > worst.total || (s.total === worst.total && sid > worstSid)) {
      worst = s;
      worstSid = sid;
    }
  }
  if (!worst || worst.total < OOM_MIN_VICTIM_BYTES) return [];
  const largest = worst.members.reduce((a, b) =>
    b.rssBytes > a.rssBytes || (b.rssBytes === a.rssBytes && b.pid > a.pid) ? b : a,
  );
  if (largest.rssBytes >= OOM_MIN_VICTIM_BYTES && largest.rssBytes * 4 >= worst.total) {
    return [largest];
  }
  return worst.members;
}
