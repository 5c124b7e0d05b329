import { readFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { cpus } from "node:os";

// GET /metrics in E2B envd's format (its host.Metrics): memory as gopsutil computes it
// (used = total - free - buffers - cached, cached including SReclaimable), CPU use since the
// previous call (the first call: since envd started), disk of the root filesystem.

interface CpuTimes {
  busy: number;
  total: number;
}

function readCpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      values;
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { busy: total - idle - iowait, total };
  } catch {
    return undefined;
  }
}

let previous = readCpuTimes();

function cpuUsedPercent(): number {
  const now = readCpuTimes();
  if (!now || !previous) return 0;
  const total = now.total - previous.total;
  const busy = now.busy - previous.busy;
  previous = now;
  if (total <= 0) return 0;
  return Math.round(Math.max(0, Math.min(100, (busy / total) * 100)) * 100) / 100;
}

function memory(): { total: number; used: number; cached: number } {
  const fields = new Map<string, number>();
  try {
    for (const line of readFileSync("/proc/meminfo", "utf8").split("\n")) {
      const match = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
      if (match) fields.set(match[1] as string, Number(match[2]) * 1024);
    }
  } catch {
    return { total: 0, used: 0, cached: 0 };
  }
  const total = fields.get("MemTotal") ?? 0;
  const free = fields.get("MemFree") ?? 0;
  const buffers = fields.get("Buffers") ?? 0;
  const cached = (fields.get("Cached") ?? 0) + (fields.get("SReclaimable") ?? 0);
  let used = total - free - buffers - cached;
  if (used < 0) used = total - free;
  return { total, used, cached };
}

export async function sampleMetrics() {
  const mem = memory();
  const disk = await statfs("/").catch(() => undefined);
  const diskTotal = disk ? disk.blocks * disk.bsize : 0;
  const diskAvailable = disk ? disk.bavail * disk.bsize : 0;
  return {
    ts: Math.floor(Date.now() / 1000),
    cpu_count: cpus().length,
    cpu_used_pct: cpuUsedPercent(),
    mem_total_mib: Math.floor(mem.total / 1024 / 1024),
    mem_used_mib: Math.floor(mem.used / 1024 / 1024),
    mem_total: mem.total,
    mem_used: mem.used,
    mem_cache: mem.cached,
    disk_used: diskTotal - diskAvailable,
    disk_total: diskTotal,
  };
}
