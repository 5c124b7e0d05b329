import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage } from "node:http";
import { TRACE_HEADER, TraceClock, traceIdOf } from "@wrenn/contract";
import type { Logger } from "../log/logger.js";

/**
 * envd's hop of a request trace (TRACE_HEADER in @wrenn/contract): the clock of the request
 * being handled, started when its headers arrived, for the handlers that time their phases
 * (process Start). The id only names log lines and Server-Timing entries.
 */
const current = new AsyncLocalStorage<TraceClock<"envd">>();

/** Runs `handle` with a trace clock for `req` when it carries a readable trace id. */
export function withRequestTrace<T>(req: IncomingMessage, log: Logger, handle: () => T): T {
  const id = traceIdOf(req.headers[TRACE_HEADER]);
  if (id === undefined) return handle();
  const clock = new TraceClock(id, "envd", (line) => log.info(line, "trace"));
  return current.run(clock, handle);
}

/** The trace of the request being handled, if it is traced. */
export function requestTrace(): TraceClock<"envd"> | undefined {
  return current.getStore();
}
