// The output stream of one process, made durable:
// - no deadline on the stream itself (envd's keepalives keep idle streams open), so a command
//   may stream for as long as it runs;
// - a command timeout is envd's deadline on the process (Connect-Timeout-Ms on Start), which
//   kills its whole session; the stream then ends with a "timeout" event, never a vague error;
// - when the connection drops (the control plane restarts, a proxy cuts it), the stream
//   reconnects to the running process with `process.Connect` and `Wrenn-Replay-From: <bytes
//   already received>`, and envd replays the rest from its 4 MiB ring: nothing is lost or
//   repeated while the gap stays within that ring.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { type Process, Signal, type StartRequestSchema } from "@wrenn/proto/process";
import {
  KEEPALIVE_SECONDS,
  REPLAY_FROM_HEADER,
  REPLAY_START_HEADER,
} from "../envd/envd-connection.js";
import { errorFromEnvd } from "../error-mapping.js";
import {
  ConnectionError,
  ServerError,
  StreamLostError,
  TimeoutError,
  UnexpectedResponseError,
  WrennError,
} from "../errors.js";

export type OutputStream = "stdout" | "stderr" | "pty";

export type ProcessStreamEvent =
  | { type: "start"; pid: number }
  | { type: "data"; stream: OutputStream; data: Uint8Array }
  | { type: "end"; exitCode: number; exited: boolean; status: string; error?: string }
  /** The command's timeout passed and envd killed it. */
  | { type: "timeout"; timeoutMs: number }
  /** The stream broke and came back; `lostBytes` > 0 when envd's ring no longer had them. */
  | { type: "reconnected"; attempt: number; lostBytes: number };

export interface ProcessStreamOptions {
  rpc: Client<typeof Process>;
  /** A new process to start, or... */
  start?: MessageInitShape<typeof StartRequestSchema>;
  /** ...a running process to connect to. */
  pid?: number;
  /** For `pid`: the output offset to replay from (0: all envd still has). */
  replayFrom?: number;
  /** Connect headers (the user's Basic auth, say). */
  headers: Record<string, string>;
  /** For `start`: envd kills the process after this many ms (0: never). */
  timeoutMs: number;
  /** Bound on the wait for the first message of each (re)connection (0: none). */
  requestTimeoutMs: number;
  /** Give up reconnecting after this long without a working stream. */
  reconnectTimeoutMs: number;
  /** Aborting it ends the stream (not the process). */
  signal: AbortSignal;
}

/** Grace after a command's deadline before the client kills it itself (envd should have). */
const WATCHDOG_GRACE_MS = 5_000;

class WatchdogFired extends Error {}
class FirstMessageLate extends Error {}

/** The events of a process until it ends, reconnecting through drops (see the top). */
export async function* processEvents(o: ProcessStreamOptions): AsyncGenerator<ProcessStreamEvent> {
  let pid = o.pid;
  /** Absolute offset of the next output byte we expect (known once a replay answered). */
  let offset = o.replayFrom ?? 0;
  let started = false;
  let attempt = 0;
  let brokenSince: number | undefined;
  let lastError: unknown;
  const deadlineAt = o.start && o.timeoutMs > 0 ? Date.now() + o.timeoutMs : undefined;

  for (;;) {
    if (o.signal.aborted) return;
    const controller = new AbortController();
    const onAbort = () => controller.abort(o.signal.reason);
    o.signal.addEventListener("abort", onAbort, { once: true });
    const firstMessageTimer =
      o.requestTimeoutMs > 0
        ? setTimeout(() => controller.abort(new FirstMessageLate()), o.requestTimeoutMs)
        : undefined;
    const watchdog =
      deadlineAt === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new WatchdogFired()),
            Math.max(0, deadlineAt + WATCHDOG_GRACE_MS - Date.now()),
          );
    let replayStart: number | undefined;
    const isStart = !started && o.start !== undefined;
    try {
      const stream = isStart
        ? o.rpc.start(o.start as MessageInitShape<typeof StartRequestSchema>, {
            signal: controller.signal,
            headers: {
              ...o.headers,
              "keepalive-ping-interval": String(KEEPALIVE_SECONDS),
              ...(o.timeoutMs > 0 ? { "connect-timeout-ms": String(o.timeoutMs) } : {}),
            },
          })
        : o.rpc.connect(
            { process: { selector: { case: "pid", value: pid as number } } },
            {
              signal: controller.signal,
              headers: {
                ...o.headers,
                "keepalive-ping-interval": String(KEEPALIVE_SECONDS),
                [REPLAY_FROM_HEADER]: String(offset),
              },
              onHeader: (h) => {
                const v = h.get(REPLAY_START_HEADER);
                if (v !== null && /^\d+$/.test(v)) replayStart = Number(v);
              },
            },
          );
      let first = true;
      for await (const response of stream) {
        const event = response.event?.event;
        if (first) {
          first = false;
          clearTimeout(firstMessageTimer);
          if (event?.case !== "start") {
            throw new UnexpectedResponseError(
              "protocol_error",
              `envd's stream began with ${event?.case ?? "nothing"}, not the start event`,
            );
          }
          // Where envd's replay really began: later than asked when older output is gone.
          const lostBytes =
            replayStart !== undefined && replayStart > offset ? replayStart - offset : 0;
          offset += lostBytes;
          if (!started) {
            started = true;
            pid = event.value.pid;
            yield { type: "start", pid };
          } else {
            yield { type: "reconnected", attempt, lostBytes };
          }
          attempt = 0;
          brokenSince = undefined;
          continue;
        }
        if (!event) continue;
        if (event.case === "data") {
          const output = event.value.output;
          if (output.case === undefined) continue;
          offset += output.value.length;
          yield { type: "data", stream: output.case, data: output.value };
        } else if (event.case === "end") {
          const end = event.value;
          if (
            deadlineAt !== undefined &&
            Date.now() >= deadlineAt - 250 &&
            end.status === "signal: killed"
          ) {
            // Seen after a reconnect: the deadline fired while we were away.
            yield { type: "timeout", timeoutMs: o.timeoutMs };
            return;
          }
          yield {
            type: "end",
            exitCode: end.exitCode,
            exited: end.exited,
            status: end.status,
            ...(end.error === undefined ? {} : { error: end.error }),
          };
          return;
        }
      }
      throw new ServerError(
        "no_end_event",
        `the stream of process ${pid ?? "?"} ended without an end event`,
      );
    } catch (error) {
      const reason = controller.signal.aborted ? controller.signal.reason : undefined;
      if (o.signal.aborted) return;
      if (reason instanceof WatchdogFired && pid !== undefined) {
        await o.rpc
          .sendSignal(
            { process: { selector: { case: "pid", value: pid } }, signal: Signal.SIGKILL },
            { headers: o.headers, timeoutMs: o.requestTimeoutMs },
          )
          .catch(() => {});
        yield { type: "timeout", timeoutMs: o.timeoutMs };
        return;
      }
      if (isDeadline(error) && deadlineAt !== undefined) {
        yield { type: "timeout", timeoutMs: o.timeoutMs };
        return;
      }
      const mapped =
        reason instanceof FirstMessageLate
          ? new TimeoutError(
              "request_timeout",
              `envd did not answer within ${o.requestTimeoutMs} ms (requestTimeoutMs)`,
            )
          : errorFromEnvd(error, "process");
      // Before the start event there is nothing to reconnect to (and starting again would
      // run the command twice).
      if (!started || pid === undefined || !isTransient(mapped)) throw mapped;
      lastError = mapped;
      brokenSince ??= Date.now();
      const waited = Date.now() - brokenSince;
      if (waited >= o.reconnectTimeoutMs) throw new StreamLostError(pid, waited, lastError);
      attempt++;
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)), o.signal);
    } finally {
      clearTimeout(firstMessageTimer);
      clearTimeout(watchdog);
      o.signal.removeEventListener("abort", onAbort);
    }
  }
}

function isDeadline(error: unknown): boolean {
  return (
    (error instanceof ConnectError && error.code === Code.DeadlineExceeded) ||
    (error instanceof WrennError && error.code === "deadline_exceeded")
  );
}

/**
 * Failures worth a reconnect: the network, the proxy or the host agent in between (5xx), a
 * late first message, and envd dropping a slow reader (resource_exhausted: the replay catches
 * up). Not: the process being gone, the sandbox paused, a wrong key.
 */
function isTransient(error: WrennError): boolean {
  if (error instanceof ConnectionError || error instanceof ServerError) return true;
  if (error instanceof TimeoutError) return error.code === "request_timeout";
  return error.code === "resource_exhausted" || error.code === "unavailable";
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
