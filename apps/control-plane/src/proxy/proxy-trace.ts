import { randomBytes } from "node:crypto";
import type http from "node:http";
import {
  prependServerTiming,
  SERVER_TIMING_HEADER,
  TRACE_HEADER,
  TraceClock,
  traceIdOf,
  withoutHopTimings,
} from "@wrenn/contract";
import { onUpstreamConnected } from "@wrenn/http-relay";
import type { Logger } from "pino";

/**
 * The control plane's hop of a request trace (see TRACE_HEADER in @wrenn/contract): auth,
 * lookup, connect to the agent, first byte back, done. The caller's id is for logging only
 * until the caller is authenticated for the sandbox: only then does it travel on to the agent
 * and envd and does the answer carry the hops' Server-Timing entries.
 */
export class ProxyTrace {
  #exposed = false;

  constructor(readonly clock: TraceClock<"cp">) {}

  mark(phase: "auth" | "lookup" | "connect" | "first-byte" | "done"): void {
    this.clock.mark(phase);
  }

  /** Routing is done: pass the id on to the agent only for an authenticated caller. */
  resolved(req: http.IncomingMessage, authenticated: boolean): void {
    this.clock.mark("lookup");
    this.#exposed = authenticated;
    if (authenticated) req.headers[TRACE_HEADER] = this.clock.id;
  }

  onUpstream(proxyReq: http.ClientRequest): void {
    onUpstreamConnected(proxyReq, () => this.clock.mark("connect"));
  }

  onResponse(proxyRes: http.IncomingMessage): void {
    this.clock.mark("first-byte");
    if (this.#exposed) {
      proxyRes.headers[SERVER_TIMING_HEADER] = prependServerTiming(
        this.clock.header(),
        proxyRes.headers[SERVER_TIMING_HEADER],
      );
    } else {
      // An unauthenticated caller learns nothing of the hops behind the proxy; the sandbox
      // app's own Server-Timing entries are its business and pass.
      const kept = withoutHopTimings(proxyRes.headers[SERVER_TIMING_HEADER]);
      if (kept === undefined) delete proxyRes.headers[SERVER_TIMING_HEADER];
      else proxyRes.headers[SERVER_TIMING_HEADER] = kept;
    }
  }
}

/**
 * A trace for this request when it carries a readable TRACE_HEADER, or for every request when
 * `all` is set (with an id of our own). The header never reaches the agent from here: the
 * trace sets it again once the caller is known (ProxyTrace.resolved).
 */
export function startProxyTrace(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  logger: Logger,
  all: boolean,
): ProxyTrace | undefined {
  const start = performance.now();
  const given = traceIdOf(req.headers[TRACE_HEADER]);
  delete req.headers[TRACE_HEADER];
  const id = given ?? (all ? randomBytes(8).toString("hex") : undefined);
  if (id === undefined) return undefined;
  const trace = new ProxyTrace(
    new TraceClock(id, "cp", (line) => logger.info(line, "trace"), start),
  );
  res.once("finish", () => trace.mark("done"));
  return trace;
}
