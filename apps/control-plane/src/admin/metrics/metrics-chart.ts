// CPU and memory over time as inline SVG: a line over a shaded area on a fixed grid, scaled by
// the browser. Styled by class (admin.css), so nothing inline offends the CSP. With no samples
// the chart says so in words instead of drawing an axis with nothing to scale it by.
import { type Html, html } from "../html/html.js";
import { bytes, span } from "../html/units.js";
import type { Sample } from "./metrics-history.js";

const W = 600;
const H = 150;
const PAD = { left: 62, right: 8, top: 8, bottom: 18 };
const PLOT_W = W - PAD.left - PAD.right;
const PLOT_H = H - PAD.top - PAD.bottom;

interface Series {
  kind: "cpu" | "mem";
  title: string;
  /** What the chart says for assistive technology. */
  summary: string;
  current: string;
  max: number;
  value: (s: Sample) => number;
  tick: (v: number) => string;
}

export interface ChartOptions {
  /** Samples further apart than this are a gap (the sandbox was paused): the line breaks. */
  gapMs: number;
  /** What an empty chart says. */
  emptyText: string;
  now?: number;
}

/** Runs of samples without a gap between neighbours. */
function segments(samples: readonly Sample[], gapMs: number): Sample[][] {
  const out: Sample[][] = [];
  for (const s of samples) {
    const run = out.at(-1);
    const prev = run?.at(-1);
    if (run && prev && s.at - prev.at <= gapMs) run.push(s);
    else out.push([s]);
  }
  return out;
}

function empty(s: Series, text: string): Html {
  return html`<figure class="chart empty-chart">
  <figcaption><span>${s.title}</span><span class="mono dim">–</span></figcaption>
  <div class="chart-empty" role="img" aria-label="${s.title}: ${text}" data-samples="0"><p>${text}</p></div>
</figure>`;
}

function plot(samples: readonly Sample[], s: Series, o: ChartOptions, now: number): Html {
  if (samples.length === 0) return empty(s, o.emptyText);
  const first = samples[0]!.at;
  const window = Math.max(60_000, now - first);
  const x = (at: number) => PAD.left + PLOT_W * (1 - (now - at) / window);
  const y = (v: number) => PAD.top + PLOT_H * (1 - Math.min(v, s.max) / s.max);
  const base = (PAD.top + PLOT_H).toFixed(1);
  const last = samples.at(-1)!;
  const grid = [0, 0.5, 1].map((f) => {
    const gy = PAD.top + PLOT_H * (1 - f);
    return html`<line class="gridline" x1="${PAD.left}" x2="${W - PAD.right}" y1="${gy}" y2="${gy}"/><text class="axis" x="${PAD.left - 6}" y="${gy + 3}" text-anchor="end">${s.tick(s.max * f)}</text>`;
  });
  const lines = segments(samples, o.gapMs)
    .filter((run) => run.length > 1)
    .map((run) => {
      const points = run.map((p) => `${x(p.at).toFixed(1)},${y(s.value(p)).toFixed(1)}`);
      const area = `${x(run[0]!.at).toFixed(1)},${base} ${points.join(" ")} ${x(run.at(-1)!.at).toFixed(1)},${base}`;
      return html`<polygon class="area" points="${area}"/><polyline class="line" points="${points.join(" ")}"/>`;
    });
  return html`<figure class="chart">
  <figcaption><span>${s.title}</span><span class="mono">${s.current}</span></figcaption>
  <svg class="plot ${s.kind}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${s.summary}" data-samples="${samples.length}">
    ${grid}
    <text class="axis" x="${PAD.left}" y="${H - 4}">-${span(window)}</text>
    <text class="axis" x="${W - PAD.right}" y="${H - 4}" text-anchor="end">now</text>
    ${lines}<circle class="dot" cx="${x(last.at).toFixed(1)}" cy="${y(s.value(last)).toFixed(1)}" r="2.5"/>
  </svg>
</figure>`;
}

export function metricsCharts(samples: readonly Sample[], o: ChartOptions): Html {
  const now = o.now ?? Date.now();
  const last = samples.at(-1);
  const cpu = last ? `${last.cpuPct.toFixed(1)}% of ${last.cpuCount} vCPU` : "";
  const mem = last ? `${bytes(last.memUsedBytes)} / ${bytes(last.memTotalBytes)}` : "";
  return html`<div class="charts">
  ${plot(
    samples,
    {
      kind: "cpu",
      title: "CPU",
      summary: `CPU use over the last ${span(now - (samples[0]?.at ?? now))}, now ${cpu}`,
      current: cpu,
      max: 100,
      value: (p) => p.cpuPct,
      tick: (v) => `${v.toFixed(0)}%`,
    },
    o,
    now,
  )}
  ${plot(
    samples,
    {
      kind: "mem",
      title: "Memory",
      summary: `Memory use over the last ${span(now - (samples[0]?.at ?? now))}, now ${mem}`,
      current: mem,
      max: Math.max(last?.memTotalBytes ?? 0, 1),
      value: (p) => p.memUsedBytes,
      tick: (v) => bytes(Math.round(v)),
    },
    o,
    now,
  )}
</div>`;
}
