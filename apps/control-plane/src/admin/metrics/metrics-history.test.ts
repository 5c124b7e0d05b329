import { describe, expect, it } from "vitest";
import type { AgentSandboxStats } from "../../hosts/host-client.js";
import { metricsCharts } from "./metrics-chart.js";
import { DEFAULT_HISTORY_LIMITS, MetricsHistory, type Sample } from "./metrics-history.js";
import { MetricsSampler } from "./metrics-sampler.js";

const MiB = 1024 * 1024;

function stats(cpu: number, memMb: number): AgentSandboxStats {
  return {
    timestamp: new Date(),
    cpuCount: 1,
    cpuUsedPct: cpu,
    memUsedBytes: memMb * MiB,
    memTotalBytes: 512 * MiB,
    memCacheBytes: 0,
    diskUsedBytes: 0,
    diskTotalBytes: 2048 * MiB,
  };
}

describe("metrics history", () => {
  it("keeps the last hour of a sandbox sampled every 10 s, and no more", () => {
    let now = 1_000_000;
    const history = new MetricsHistory(DEFAULT_HISTORY_LIMITS, () => now);
    // Two hours of samples.
    for (let i = 0; i < 720; i++) {
      history.add("sb-00000001", stats(i % 100, 100));
      now += 10_000;
    }
    const kept = history.get("sb-00000001");
    expect(kept.length).toBeGreaterThanOrEqual(359);
    expect(kept.length).toBeLessThanOrEqual(361);
    expect(now - kept[0]!.at).toBeLessThanOrEqual(3600_000);
    // Oldest first, in order.
    expect(kept.every((s, i) => i === 0 || s.at > kept[i - 1]!.at)).toBe(true);
    expect(kept.at(-1)!.cpuPct).toBe(719 % 100);
  });

  it("forgets a sandbox, drops rings with nothing in the window, and caps the sandboxes", () => {
    let now = 0;
    const history = new MetricsHistory(
      { windowMs: 60_000, intervalMs: 10_000, sandboxes: 2 },
      () => now,
    );
    history.add("sb-0000000a", stats(1, 1));
    history.add("sb-0000000b", stats(1, 1));
    history.forget("sb-0000000a");
    expect(history.ids()).toEqual(["sb-0000000b"]);
    now = 30_000;
    history.add("sb-0000000c", stats(1, 1));
    history.add("sb-0000000d", stats(1, 1)); // the third: the least recently sampled goes
    expect(history.ids()).toEqual(["sb-0000000c", "sb-0000000d"]);
    now = 91_000;
    history.dropStale();
    expect(history.ids()).toEqual([]);
  });
});

describe("metrics sampler", () => {
  it("samples what runs, keeps a paused sandbox's past and drops an ended one's", async () => {
    const history = new MetricsHistory();
    let running = ["sb-00000001", "sb-00000002"];
    const ended = new Set<string>();
    const asked: string[][] = [];
    const sampler = new MetricsSampler(
      {
        runningStats: async () => running.map((id) => ({ id, stats: stats(5, 64) })),
        ended: async (ids) => {
          asked.push([...ids]);
          return ids.filter((id) => ended.has(id));
        },
      },
      history,
      { warn: () => {} },
    );
    await sampler.tick();
    expect(history.get("sb-00000001")).toHaveLength(1);
    expect(history.get("sb-00000002")).toHaveLength(1);

    // 1 pauses (not running, not ended), 2 is destroyed.
    running = [];
    ended.add("sb-00000002");
    await sampler.tick();
    expect(asked.at(-1)).toEqual(["sb-00000001", "sb-00000002"]);
    expect(history.get("sb-00000001")).toHaveLength(1);
    expect(history.get("sb-00000002")).toHaveLength(0);
    await sampler.stop();
  });
});

describe("metrics chart", () => {
  const sample = (at: number, cpuPct: number): Sample => ({
    at,
    cpuPct,
    cpuCount: 1,
    memUsedBytes: 100 * MiB,
    memTotalBytes: 512 * MiB,
    diskUsedBytes: 0,
    diskTotalBytes: 0,
  });

  it("says an empty chart is empty instead of drawing an axis", () => {
    const out = metricsCharts([], { gapMs: 25_000, emptyText: "No samples yet.", now: 0 }).value;
    expect(out).toContain("No samples yet.");
    expect(out).not.toContain('class="axis"');
    expect(out).not.toContain("<svg");
    expect(out).not.toContain("0 B");
  });

  it("breaks the line where samples stop (a pause) instead of drawing across the gap", () => {
    const samples = [
      sample(0, 10),
      sample(10_000, 20),
      sample(20_000, 30),
      // paused for five minutes
      sample(320_000, 40),
      sample(330_000, 50),
    ];
    const out = metricsCharts(samples, { gapMs: 25_000, emptyText: "", now: 330_000 }).value;
    const cpu = out.slice(0, out.indexOf('class="plot mem"'));
    expect(cpu.match(/<polyline/g)).toHaveLength(2);
    expect(cpu).toContain('data-samples="5"');
  });
});
