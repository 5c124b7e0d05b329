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
      const entry = out.get(line.trace) ?? {
        id: line.trace,
        at: Number.POSITIVE_INFINITY,
        hops: {},
      };
      const hop = line.hop as TraceHop;
      const phases = entry.hops[hop] ?? {};
      phases[String(line.phase)] = line.ms;
      entry.hops[hop] = phases;
      if (hop === "cp") {
        const at = typeof line.time === "number" ? line.time : Date.parse(String(line.time));
        if (Number.isFinite(at)) entry.at = Math.min(entry.at, at);
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
