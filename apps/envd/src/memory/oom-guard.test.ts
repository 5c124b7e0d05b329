import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { listGuestProcesses, OomGuard, type OomKill } from "./oom-guard.js";
import {
  type GuestProcess,
  OOM_POLL_MS,
  parseMemInfo,
  pickVictims,
  thresholdsFor,
} from "./oom-policy.js";

const MiB = 1024 * 1024;

async function eventually(ok: () => boolean, withinMs = 10_000): Promise<void> {
  for (let i = 0; i < withinMs / 50 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(ok()).toBe(true);
}
const proc = (pid: number, rssMb: number, isProtected = false, sid = pid): GuestProcess => ({
  pid,
  sid,
  rssBytes: rssMb * MiB,
  protected: isProtected,
});
const pids = (victims: GuestProcess[]) => victims.map((v) => v.pid).sort((x, y) => x - y);

describe("the OOM guard's choice", () => {
  test("picks the largest resident process, alone", () => {
    expect(pids(pickVictims([proc(10, 20), proc(11, 300), proc(12, 40)]))).toEqual([11]);
  });

  test("never picks envd, PID 1 or a helper, however large", () => {
    expect(pids(pickVictims([proc(1, 900, true), proc(7, 800, true), proc(12, 40)]))).toEqual([12]);
  });

  test("picks nobody when only small processes are left (memory is held elsewhere)", () => {
    expect(pickVictims([proc(1, 900, true), proc(20, 2), proc(21, 7)])).toEqual([]);
    expect(pickVictims([])).toEqual([]);
  });

  test("between two of one size, the newer", () => {
    expect(pids(pickVictims([proc(30, 64), proc(31, 64)]))).toEqual([31]);
  });

  test("a hog under a shell: the hog alone, its shell carries on", () => {
    // bash (sid 40) runs python, which holds nearly all of the session's memory.
    expect(pids(pickVictims([proc(40, 4), proc(41, 200, false, 40), proc(50, 30)]))).toEqual([41]);
  });

  test("a fork bomb: no process stands out, so its whole session goes, and only it", () => {
    const bomb = Array.from({ length: 300 }, (_, i) => proc(100 + i, 1.5, false, 100));
    const worker = proc(60, 90);
    const victims = pickVictims([proc(1, 80, true), worker, ...bomb]);
    expect(pids(victims)).toEqual(bomb.map((b) => b.pid));
  });

  test("the session holding the most memory pays, not the largest single process elsewhere", () => {
    const swarm = Array.from({ length: 10 }, (_, i) => proc(200 + i, 30, false, 200));
    expect(pids(pickVictims([proc(70, 120), ...swarm]))).toEqual(swarm.map((s) => s.pid));
  });

  test("reads gVisor's /proc/meminfo", () => {
    const text =
      "MemTotal:         393216 kB\nMemFree:          390740 kB\nMemAvailable:     390000 kB\n";
    expect(parseMemInfo(text)).toEqual({
      totalBytes: 393216 * 1024,
      availableBytes: 390000 * 1024,
    });
    expect(parseMemInfo("MemTotal: 1 kB\nMemFree: 1 kB\n")).toEqual({
      totalBytes: 1024,
      availableBytes: 1024,
    });
    expect(parseMemInfo("garbage")).toBeUndefined();
  });

  test("thresholds: 96 MiB plus 5 % of memory, at most 128 MiB; fast polling under twice that", () => {
    expect(thresholdsFor(384 * MiB).killBelowBytes).toBe(96 * MiB + Math.floor(384 * MiB * 0.05));
    expect(thresholdsFor(64 * 1024 * MiB).killBelowBytes).toBe(128 * MiB);
    const t = thresholdsFor(1024 * MiB);
    expect(t.watchBelowBytes).toBe(2 * t.killBelowBytes);
  });
});

describe("the OOM guard on real processes", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) {
      // Each child leads a session and group of its own: the whole group goes, so no member
      // keeps the test's stdout pipe (and vitest) alive.
      try {
        if (c.pid) process.kill(-c.pid, "SIGKILL");
      } catch {
        c.kill("SIGKILL");
      }
    }
    children.length = 0;
  });

  /** A real process holding `mb` MiB touched, reporting when it has them. */
  async function holder(mb: number): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [
        "-e",
        `globalThis.b = Buffer.alloc(${mb} << 20, 1); console.log("ready"); setInterval(() => {}, 1000)`,
      ],
      // A session of its own, as envd gives every command: never the test runner's.
      { stdio: ["ignore", "pipe", "inherit"], detached: true },
    );
    children.push(child);
    await once(child.stdout as NodeJS.ReadableStream, "data");
    return child;
  }

  function guard(availableMb: number | (() => number), mine: () => number[], kills: OomKill[]) {
    const available = typeof availableMb === "number" ? () => availableMb : availableMb;
    const warnings: unknown[] = [];
    const g = new OomGuard({
      log: { debug: () => {}, warn: (o: unknown) => warnings.push(o), error: () => {} } as never,
      binDir: "/nonexistent",
      readMemInfo: () => ({ totalBytes: 1024 * MiB, availableBytes: available() * MiB }),
      // The real /proc, narrowed to this test's children: never the machine's other processes.
      listProcesses: () => listGuestProcesses("/nonexistent").filter((p) => mine().includes(p.pid)),
      onKill: (k) => kills.push(k),
    });
    return { g, warnings };
  }

  test("under the threshold it SIGKILLs the largest, logs it, and leaves the rest", async () => {
    const small = await holder(16);
    const big = await holder(96);
    const kills: OomKill[] = [];
    const { g, warnings } = guard(40, () => [small.pid ?? 0, big.pid ?? 0], kills);
    const bigExit = once(big, "exit");
    expect(g.check()).toBe(OOM_POLL_MS.pressed);
    expect(await bigExit).toEqual([null, "SIGKILL"]);
    expect(kills).toEqual([
      expect.objectContaining({
        pid: big.pid,
        command: expect.stringContaining("Buffer.alloc(96"),
      }),
    ]);
    expect(kills[0]?.rssBytes).toBeGreaterThan(90 * MiB);
    expect(warnings).toEqual([expect.objectContaining({ event: "oom_kill", pid: big.pid })]);
    expect(small.exitCode).toBeNull();
    expect(small.signalCode).toBeNull();
  });

  test("with memory to spare it kills nothing and polls calmly; close to the line, fast", async () => {
    const big = await holder(64);
    const kills: OomKill[] = [];
    expect(guard(900, () => [big.pid ?? 0], kills).g.check()).toBe(OOM_POLL_MS.calm);
    expect(guard(150, () => [big.pid ?? 0], kills).g.check()).toBe(OOM_POLL_MS.pressed);
    expect(kills).toEqual([]);
    expect(big.exitCode).toBeNull();
  });

  test("close to the line it polls fast only while memory is falling", async () => {
    const big = await holder(64);
    const kills: OomKill[] = [];
    let availableMb = 160;
    const { g } = guard(
      () => availableMb,
      () => [big.pid ?? 0],
      kills,
    );
    expect(g.check()).toBe(OOM_POLL_MS.pressed); // first look under the watch line
    expect(g.check()).toBe(OOM_POLL_MS.steady); // holding
    availableMb = 150;
    expect(g.check()).toBe(OOM_POLL_MS.pressed); // falling
    expect(g.check()).toBe(OOM_POLL_MS.steady);
    expect(kills).toEqual([]);
    expect(big.exitCode).toBeNull();
  });

  test("one shortage, one victim: the next check waits for the first to go", async () => {
    const a = await holder(48);
    const b = await holder(32);
    const kills: OomKill[] = [];
    const { g } = guard(10, () => [a.pid ?? 0, b.pid ?? 0], kills);
    g.check();
    g.check();
    expect(kills.map((k) => k.pid)).toEqual([a.pid]);
  });

  test("a swarm of small processes in one session is killed whole, process group included", async () => {
    const leader = spawn(
      "sh",
      [
        "-c",
        `for i in 1 2 3 4 5 6; do ${process.execPath} -e 'globalThis.b = Buffer.alloc(4 << 20, 1); process.stdout.write("r"); setInterval(() => {}, 1000)' & done; wait`,
      ],
      { stdio: ["ignore", "pipe", "inherit"], detached: true },
    );
    children.push(leader);
    // Every member holds its buffer before the guard looks: a member still starting is smaller
    // than the rest, and one that stands out is picked alone instead of the whole session.
    let readies = 0;
    leader.stdout?.on("data", (d: Buffer) => {
      readies += d.toString().length;
    });
    const session = () => listGuestProcesses("/nonexistent").filter((p) => p.sid === leader.pid);
    await eventually(() => readies === 6 && session().length === 7, 120_000);
    const members = session().map((p) => p.pid);
    const kills: OomKill[] = [];
    const leaderExit = once(leader, "exit");
    guard(10, () => members, kills).g.check();
    // Bounded, so a wrong choice fails with the kills it made rather than the test's timeout.
    const exited = await Promise.race([
      leaderExit,
      new Promise((r) => setTimeout(() => r("still running"), 30_000)),
    ]);
    expect(exited, JSON.stringify(kills)).toEqual([null, "SIGKILL"]);
    expect(kills).toHaveLength(1);
    expect(kills[0]?.killed.sort()).toEqual([...members].sort());
    await eventually(() => session().length === 0);
  });

  test("a process running one of envd's helpers, envd and its parent are protected", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oom-helpers-"));
    try {
      copyFileSync("/bin/sleep", join(dir, "wrenn-helper"));
      chmodSync(join(dir, "wrenn-helper"), 0o755);
      const child = spawn(join(dir, "wrenn-helper"), ["30"], { stdio: "ignore" });
      children.push(child);
      await once(child, "spawn");
      const inHelperDir = (d: string) => listGuestProcesses(d).find((p) => p.pid === child.pid);
      expect(inHelperDir(dir)?.protected).toBe(true);
      expect(inHelperDir("/nonexistent")?.protected).toBe(false);
      const self = listGuestProcesses("/nonexistent")
        .filter((p) => p.protected)
        .map((p) => p.pid);
      expect(self).toEqual(expect.arrayContaining([process.pid, process.ppid]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
