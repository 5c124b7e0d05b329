import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TRACE_PHASES, type TraceHop } from "@wrenn/contract";
import { percentile } from "./stats.js";

/** One traced request: per hop, ms of each phase since that hop received it. */
export type TracedRequest = {
  id: string;
  /** Wall-clock ms of the control plane's first line, to put requests in order. */
  at: number;
  hops: Partial<Record<TraceHop, Record<string, number>>>;
  /** Wall-clock ms of each `hop phase` line: the hops share the host's clock (gVisor too). */
  wall: Record<string, number>;
};

/** Gathers the `{trace, hop, phase, ms}` lines (pino JSON) found in `texts`, by trace id. */
export function collectTraces(texts: string[]): Map<string, TracedRequest> {
  const out = new Map<string, TracedRequest>();
  for (const text of texts) {
    for (const raw of text.split("\n")) {
      if (!raw.includes('"trace"')) continue;
      let line: { trace?: unknown; hop?: unknown; phase?: unknown; ms?: unknown; time?: unknown };
      try {
        line = JSON.parse(raw.slice(raw.indexOf("{")));
      } catch {
        continue;
      }
      if (typeof line.trace !== "string" || typeof line.ms !== "number") continue;
      if (typeof line.hop !== "string" || !(line.hop in TRACE_PHASES)) continue;
      const entry: TracedRequest = out.get(line.trace) ?? {
        id: line.trace,
        at: Number.POSITIVE_INFINITY,
        hops: {},
        wall: {},
      };
      const hop = line.hop as TraceHop;
      const phases = entry.hops[hop] ?? {};
      phases[String(line.phase)] = line.ms;
      entry.hops[hop] = phases;
      const at = typeof line.time === "number" ? line.time : Date.parse(String(line.time));
      if (Number.isFinite(at)) {
        entry.wall[`${hop} ${String(line.phase)}`] = at;
        if (hop === "cp") entry.at = Math.min(entry.at, at);
      }
      out.set(line.trace, entry);
    }
  }
  return out;
}

/** Every runtime.log (sandbox console: envd's lines) under an agent's data directory. */
export function sandboxLogs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 6) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name === "runtime.log") out.push(readFileSync(p, "utf8"));
    }
  };
  walk(dir, 0);
  return out;
}

/** p50 of each hop's phases over `requests`: rows for bench/support/stats' table. */
export function phaseRows(label: string, requests: TracedRequest[]) {
  const rows: Array<Record<string, string | number>> = [];
  for (const hop of Object.keys(TRACE_PHASES) as TraceHop[]) {
    for (const phase of TRACE_PHASES[hop]) {
      const xs = requests
        .map((r) => r.hops[hop]?.[phase])
        .filter((x): x is number => x !== undefined);
      if (xs.length === 0) continue;
      rows.push({
        requests: label,
        phase: `${hop} ${phase}`,
        "p50 ms": percentile(xs, 50),
        n: xs.length,
      });
    }
  }
  return rows;
}

/**
 * One request's phases on the shared wall clock (ms after the control plane's first line), in
 * time order: where a gap between hops is (request on its way in, or answer on its way out).
 */
export function timelineRows(request: TracedRequest) {
  const origin = Math.min(...Object.values(request.wall));
  return Object.entries(request.wall)
    .sort((a, b) => a[1] - b[1])
    .map(([phase, at]) => ({ phase, "wall ms": at - origin }));
}
