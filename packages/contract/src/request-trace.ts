/**
 * A trace of one request across the control plane's proxy, the host agent's forwarder and
 * envd. A request carrying TRACE_HEADER (an id a caller picks) is timed at each hop; each hop
 * logs one line `{trace, hop, phase, ms}` per phase and adds its phases to the answer's
 * Server-Timing header, outermost hop first, so a client sees the whole breakdown in one
 * response. `ms` counts from the moment that hop received the request (hops have no common
 * clock), so within a hop the phases are in time order.
 *
 * The id is used for logging and Server-Timing only, never for a decision: a hop that gets
 * one it cannot read (too long, other characters) drops it.
 */
export const TRACE_HEADER = "x-wrenn-trace";

/** Where the hops add their phases (W3C Server Timing). */
export const SERVER_TIMING_HEADER = "server-timing";

export const TRACE_ID_MAX_LENGTH = 64;
const TRACE_ID = /^[A-Za-z0-9_-]+$/;

/** The hops, outermost first, and their phases in the order they happen. */
export const TRACE_PHASES = {
  cp: ["auth", "lookup", "connect", "first-byte", "done"],
  agent: ["accept", "connect", "first-byte", "done"],
  envd: ["parsed", "spawn", "spawned", "first-output", "exit"],
} as const;

export type TraceHop = keyof typeof TRACE_PHASES;
export type TracePhase<H extends TraceHop = TraceHop> = (typeof TRACE_PHASES)[H][number];

/** A usable trace id from a header's value, or undefined (absent, repeated, too long, odd). */
export function traceIdOf(value: string | string[] | null | undefined): string | undefined {
  if (typeof value !== "string") return undefined;
  if (value.length === 0 || value.length > TRACE_ID_MAX_LENGTH || !TRACE_ID.test(value)) {
    return undefined;
  }
  return value;
}

/** Server-Timing entries `hop-phase;dur=ms` for the phases measured so far, in their order. */
export function serverTimingOf(hop: TraceHop, marks: ReadonlyArray<[string, number]>): string {
  return marks.map(([phase, ms]) => `${hop}-${phase};dur=${ms.toFixed(1)}`).join(", ");
}

/**
 * `ours` before what an inner hop already put in `inner` (a Server-Timing value, possibly
 * repeated), so the header reads outermost hop first.
 */
export function prependServerTiming(
  ours: string,
  inner: string | string[] | number | undefined,
): string {
  const rest = Array.isArray(inner) ? inner.join(", ") : inner === undefined ? "" : String(inner);
  if (ours === "") return rest;
  return rest === "" ? ours : `${ours}, ${rest}`;
}

/**
 * A Server-Timing value without the entries named for our hops (`cp-`, `agent-`, `envd-`):
 * what a caller not authenticated for the sandbox may see. The sandbox app's own entries stay.
 * Undefined when nothing is left.
 */
export function withoutHopTimings(
  value: string | string[] | number | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  const all = Array.isArray(value) ? value.join(",") : String(value);
  const hops = Object.keys(TRACE_PHASES).map((h) => `${h}-`);
  const kept = all
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "" && !hops.some((h) => e.split(";")[0]!.trim().startsWith(h)));
  return kept.length > 0 ? kept.join(", ") : undefined;
}

/** Parsed Server-Timing entries of one hop, in header order: what a client reads back. */
export function tracePhasesIn(serverTiming: string | null, hop: TraceHop): Array<[string, number]> {
  if (!serverTiming) return [];
  const out: Array<[string, number]> = [];
  for (const entry of serverTiming.split(",")) {
    const [name, ...params] = entry.trim().split(";");
    if (!name?.startsWith(`${hop}-`)) continue;
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith("dur="));
    out.push([name.slice(hop.length + 1), dur ? Number(dur.slice(4)) : Number.NaN]);
  }
  return out;
}

/**
 * The phases of one hop as they happen: `mark` notes a phase (the first time only), `header`
 * gives what is known so far as Server-Timing entries. Log lines are the caller's: `onMark`
 * gets each phase as it is noted.
 */
export class TraceClock<H extends TraceHop = TraceHop> {
  readonly #start: number;
  readonly #marks: Array<[TracePhase<H>, number]> = [];

  constructor(
    readonly id: string,
    readonly hop: H,
    private readonly onMark: (line: {
      trace: string;
      hop: H;
      phase: TracePhase<H>;
      ms: number;
    }) => void,
    start = performance.now(),
  ) {
    this.#start = start;
  }

  mark(phase: TracePhase<H>): void {
    if (this.#marks.some(([p]) => p === phase)) return;
    const ms = Math.round((performance.now() - this.#start) * 10) / 10;
    this.#marks.push([phase, ms]);
    this.onMark({ trace: this.id, hop: this.hop, phase, ms });
  }

  header(): string {
    return serverTimingOf(this.hop, this.#marks);
  }
}
