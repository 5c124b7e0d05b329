// CPU and memory of the sandboxes someone is watching, kept in this process: the detail page
// polls its metrics fragment, each poll takes at most one sample from the host, and the charts
// draw the samples kept. Nothing is sampled while nobody looks, and memory stays bounded.
import type { AgentSandboxStats } from "../../hosts/host-client.js";

export interface Sample {
  at: number;
  cpuPct: number;
  cpuCount: number;
  memUsedBytes: number;
  memTotalBytes: number;
  diskUsedBytes: number;
  diskTotalBytes: number;
}

export interface HistoryLimits {
  /** Samples kept per sandbox (at a poll every 3 s, 200 is ten minutes). */
  samples: number;
  /** Sandboxes kept; the one watched least recently goes first. */
  sandboxes: number;
  /** Polls closer together than this reuse the last sample instead of asking the host. */
  minIntervalMs: number;
}

const DEFAULT_LIMITS: HistoryLimits = { samples: 200, sandboxes: 256, minIntervalMs: 1_000 };

export class MetricsHistory {
  private readonly series = new Map<string, Sample[]>();

  constructor(
    private readonly limits: HistoryLimits = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a new sample is due for this sandbox. */
  due(sandboxId: string): boolean {
    const last = this.series.get(sandboxId)?.at(-1);
    return last === undefined || this.now() - last.at >= this.limits.minIntervalMs;
  }

  add(sandboxId: string, stats: AgentSandboxStats): void {
    let samples = this.series.get(sandboxId);
    if (samples)
      this.series.delete(sandboxId); // re-inserted below: Map order is recency
    else samples = [];
    samples.push({
      at: this.now(),
      cpuPct: nonNegative(stats.cpuUsedPct),
      cpuCount: stats.cpuCount,
      memUsedBytes: stats.memUsedBytes,
      memTotalBytes: stats.memTotalBytes,
      diskUsedBytes: stats.diskUsedBytes,
      diskTotalBytes: stats.diskTotalBytes,
    });
    if (samples.length > this.limits.samples)
      samples.splice(0, samples.length - this.limits.samples);
    this.series.set(sandboxId, samples);
    while (this.series.size > this.limits.sandboxes) {
      const oldest = this.series.keys().next().value;
      if (oldest === undefined) break;
      this.series.delete(oldest);
    }
  }

  get(sandboxId: string): readonly Sample[] {
    return this.series.get(sandboxId) ?? [];
  }

  /** A destroyed sandbox's samples are of no further use. */
  forget(sandboxId: string): void {
    this.series.delete(sandboxId);
  }
}

/** Not capped at 100: a reading above it would mean the CPU quota is not enforced. */
function nonNegative(v: number): number {
  return Number.isFinite(v) ? Math.max(v, 0) : 0;
}
