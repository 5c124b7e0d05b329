// CPU, memory and disk of every running sandbox over the last hour, kept in this process by
// the sampler (metrics-sampler.ts) so the detail page's charts do not start empty when it
// opens. One fixed-size ring per sandbox: memory is bounded by the number of sandboxes, each
// ring dropped when its sandbox ends or has had no sample for longer than the window.
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
  /** How far back samples are kept. */
  windowMs: number;
  /** How often the sampler takes one (sizes each ring: window / interval, plus slack). */
  intervalMs: number;
  /** Sandboxes kept; the one sampled least recently goes first. */
  sandboxes: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = {
  windowMs: 3600_000,
  intervalMs: 10_000,
  sandboxes: 4096,
};

const FIELDS = 7;

/** A ring of samples packed in one Float64Array (7 numbers each, no object per sample). */
class Ring {
  private readonly data: Float64Array;
  private start = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.data = new Float64Array(capacity * FIELDS);
  }

  push(s: Sample): void {
    const slot = (this.start + this.size) % this.capacity;
    if (this.size < this.capacity) this.size++;
    else this.start = (this.start + 1) % this.capacity;
    this.data.set(
      [
        s.at,
        s.cpuPct,
        s.cpuCount,
        s.memUsedBytes,
        s.memTotalBytes,
        s.diskUsedBytes,
        s.diskTotalBytes,
      ],
      slot * FIELDS,
    );
  }

  lastAt(): number {
    return this.size === 0
      ? 0
      : this.data[((this.start + this.size - 1) % this.capacity) * FIELDS]!;
  }

  /** Oldest first, only those at or after `since`. */
  toArray(since: number): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.size; i++) {
      const o = ((this.start + i) % this.capacity) * FIELDS;
      const d = this.data;
      if (d[o]! < since) continue;
      out.push({
        at: d[o]!,
        cpuPct: d[o + 1]!,
        cpuCount: d[o + 2]!,
        memUsedBytes: d[o + 3]!,
        memTotalBytes: d[o + 4]!,
        diskUsedBytes: d[o + 5]!,
        diskTotalBytes: d[o + 6]!,
      });
    }
    return out;
  }
}

export class MetricsHistory {
  private readonly rings = new Map<string, Ring>();
  private readonly capacity: number;

  constructor(
    readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    // Slack for a sampler that runs a little faster than its interval.
    this.capacity = Math.ceil((limits.windowMs / limits.intervalMs) * 1.1) + 1;
  }

  add(sandboxId: string, stats: AgentSandboxStats): void {
    let ring = this.rings.get(sandboxId);
    if (ring)
      this.rings.delete(sandboxId); // re-inserted below: Map order is recency
    else ring = new Ring(this.capacity);
    ring.push({
      at: this.now(),
      cpuPct: nonNegative(stats.cpuUsedPct),
      cpuCount: stats.cpuCount,
      memUsedBytes: stats.memUsedBytes,
      memTotalBytes: stats.memTotalBytes,
      diskUsedBytes: stats.diskUsedBytes,
      diskTotalBytes: stats.diskTotalBytes,
    });
    this.rings.set(sandboxId, ring);
    while (this.rings.size > this.limits.sandboxes) {
      const oldest = this.rings.keys().next().value;
      if (oldest === undefined) break;
      this.rings.delete(oldest);
    }
  }

  /** The samples of the window, oldest first. */
  get(sandboxId: string): Sample[] {
    return this.rings.get(sandboxId)?.toArray(this.now() - this.limits.windowMs) ?? [];
  }

  /** Sandboxes with samples kept. */
  ids(): string[] {
    return [...this.rings.keys()];
  }

  /** An ended sandbox's samples are of no further use. */
  forget(sandboxId: string): void {
    this.rings.delete(sandboxId);
  }

  /** Drops the rings with no sample inside the window (a sandbox paused for longer, say). */
  dropStale(): void {
    const since = this.now() - this.limits.windowMs;
    for (const [id, ring] of this.rings) if (ring.lastAt() < since) this.rings.delete(id);
  }
}

/** Not capped at 100: a reading above it would mean the CPU quota is not enforced. */
function nonNegative(v: number): number {
  return Number.isFinite(v) ? Math.max(v, 0) : 0;
}
