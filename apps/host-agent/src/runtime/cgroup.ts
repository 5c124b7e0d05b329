import { access, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

const ROOT = "/sys/fs/cgroup";

const MiB = 1024 * 1024;

/**
 * cgroup v2's memory.high for a sandbox limited to `maxBytes`: past it the kernel throttles and
 * reclaims instead of killing, which slows a hog down while envd's OOM guard (apps/envd
 * memory/oom-guard.ts) picks it off. The guard acts when the guest has ≈ 100–128 MiB left, the
 * host then ≈ 70–100 MiB under memory.max (the sentry's ≈ 30 MiB sit outside the guest's
 * view); 48 MiB under max is past that, so a sandbox is only throttled when the guard is late.
 * cgroup v1 has no memory.high: there the guard alone stands before the OOM killer.
 */
export function memoryHighFor(maxBytes: number): number {
  return maxBytes - Math.min(48 * MiB, Math.floor(maxBytes / 4));
}

/** cgroup v1's cpu.shares of a new cgroup: the weight every sandbox in use has. */
export const DEFAULT_CPU_SHARES = 1024;
/**
 * The weight of a warm-pool sandbox until it is claimed: under contention it gets 1/128 of what
 * a sandbox in use gets; on an idle host, all it asks for (shares only divide what is contended).
 */
export const BACKGROUND_CPU_SHARES = 8;

/** cgroup v2's cpu.weight for v1 shares, scaled so the defaults meet (1024 shares: 100). */
export function cpuWeightOf(shares: number): number {
  return Math.min(10_000, Math.max(1, Math.round((shares * 100) / DEFAULT_CPU_SHARES)));
}

/**
 * Reads and adjusts a sandbox's cgroup directly: the counters behind metrics, and new limits
 * when a pre-booted sandbox from the warm pool is claimed with other resources. Works on
 * cgroup v1 (separate controllers, as on these machines) and v2 (unified).
 */
export class Cgroup {
  private constructor(
    private readonly rel: string,
    private readonly v2: boolean,
  ) {}

  static async open(relPath: string): Promise<Cgroup> {
    const v2 = await access(path.join(ROOT, "cgroup.controllers")).then(
      () => true,
      () => false,
    );
    return new Cgroup(relPath.replace(/^\/+/, ""), v2);
  }

  private file(controller: string, name: string): string {
    return this.v2 ? path.join(ROOT, this.rel, name) : path.join(ROOT, controller, this.rel, name);
  }

  async cpuNanos(): Promise<number> {
    if (this.v2) {
      const stat = await readFile(this.file("", "cpu.stat"), "utf8");
      return Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0) * 1000;
    }
    return Number((await readFile(this.file("cpuacct", "cpuacct.usage"), "utf8")).trim());
  }

  async memory(): Promise<{ usedBytes: number; cacheBytes: number; limitBytes: number }> {
    const usage = await readFile(
      this.file("memory", this.v2 ? "memory.current" : "memory.usage_in_bytes"),
      "utf8",
    );
    const limit = await readFile(
      this.file("memory", this.v2 ? "memory.max" : "memory.limit_in_bytes"),
      "utf8",
    );
    const stat = await readFile(this.file("memory", "memory.stat"), "utf8");
    const cache = Number(
      (this.v2 ? /^file (\d+)/m : /^(?:total_)?cache (\d+)/m).exec(stat)?.[1] ?? 0,
    );
    const limitBytes = limit.trim() === "max" ? Number.POSITIVE_INFINITY : Number(limit.trim());
    return { usedBytes: Number(usage.trim()), cacheBytes: cache, limitBytes };
  }

  /**
   * Limits the kernel enforced on this cgroup so far: tasks killed for memory, and forks refused
   * at the task limit (zero where the counter does not exist, e.g. a kernel without it).
   */
  async limitEvents(): Promise<{ oomKills: number; pidsRefused: number }> {
    const memory = await readFile(
      this.file("memory", this.v2 ? "memory.events" : "memory.oom_control"),
      "utf8",
    ).catch(() => "");
    const pids = await readFile(this.file("pids", "pids.events"), "utf8").catch(() => "");
    return {
      oomKills: Number(/^oom_kill (\d+)/m.exec(memory)?.[1] ?? 0),
      pidsRefused: Number(/^max (\d+)/m.exec(pids)?.[1] ?? 0),
    };
  }

  /** Every process in the cgroup (empty when it does not exist). */
  async pids(): Promise<number[]> {
    const text = await readFile(this.file("memory", "cgroup.procs"), "utf8").catch(() => "");
    return text
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  }

  async setMemoryLimit(bytes: number): Promise<void> {
    await writeFile(
      this.file("memory", this.v2 ? "memory.max" : "memory.limit_in_bytes"),
      String(bytes),
    );
    await this.throttleBeforeLimit();
  }

  /** On v2, sets memory.high under the current memory.max (see memoryHighFor); v1: nothing. */
  async throttleBeforeLimit(): Promise<void> {
    if (!this.v2) return;
    const max = (await readFile(this.file("memory", "memory.max"), "utf8")).trim();
    if (max === "max") return;
    await writeFile(this.file("memory", "memory.high"), String(memoryHighFor(Number(max))));
  }

  async setCpuShares(shares: number): Promise<void> {
    if (this.v2) await writeFile(this.file("", "cpu.weight"), String(cpuWeightOf(shares)));
    else await writeFile(this.file("cpu", "cpu.shares"), String(shares));
  }

  async setCpuQuota(vcpus: number): Promise<void> {
    const quota = Math.round(vcpus * 100_000);
    if (this.v2) await writeFile(this.file("", "cpu.max"), `${quota} 100000`);
    else {
      await writeFile(this.file("cpu", "cpu.cfs_period_us"), "100000");
      await writeFile(this.file("cpu", "cpu.cfs_quota_us"), String(quota));
    }
  }
}
