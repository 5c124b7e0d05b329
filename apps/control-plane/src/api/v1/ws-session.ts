// What the exec and terminal WebSockets share: message parsing and validation, error closes,
// output with backpressure, and a heartbeat.
import { httpStatusOf } from "@wrenn/contract";
import type { TSchema } from "typebox";
import { Compile, type Validator } from "typebox/compile";
import { type RawData, WebSocket } from "ws";
import { ServiceError } from "../../service/errors.js";

/** Close codes: 1000 after the process ended; 4000 + an HTTP status for a failure. */
export const CLOSE_NORMAL = 1000;
export const closeCodeFor = (status: number) => 4000 + Math.min(Math.max(status, 400), 599);

/** A client must send its start message within this time. */
export const START_TIMEOUT_MS = 30_000;
const HEARTBEAT_MS = 30_000;
/** Above this many unsent bytes the output pump waits for the socket to drain. */
const HIGH_WATER_BYTES = 1024 * 1024;

export type ClientMessage<T> = { kind: "json"; value: T } | { kind: "binary"; data: Buffer };

/** Parses one client frame: binary frames are bytes, text frames JSON matching the schema. */
export class MessageParser<T> {
  private readonly validator: Validator;

  constructor(schema: TSchema) {
    this.validator = Compile(schema);
  }

  parse(raw: RawData, isBinary: boolean): ClientMessage<T> {
    const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    if (isBinary) return { kind: "binary", data };
    let value: unknown;
    try {
      value = JSON.parse(data.toString("utf8"));
    } catch {
      throw new ServiceError("invalid_message", "text frames must be JSON messages");
    }
    if (!this.validator.Check(value)) {
      const first = this.validator.Errors(value)[0];
      const where = first?.instancePath ? ` at ${first.instancePath}` : "";
      throw new ServiceError(
        "invalid_message",
        `invalid message${where}: ${first?.message ?? "does not match the protocol"}`,
      );
    }
    return { kind: "json", value: value as T };
  }
}

export function sendJson(socket: WebSocket, message: Record<string, unknown>): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

/** Sends bytes; resolves at once unless the client is slow, then when it caught up. */
export function sendBytes(socket: WebSocket, data: Uint8Array): Promise<void> {
  if (socket.readyState !== WebSocket.OPEN) return Promise.resolve();
  if (socket.bufferedAmount < HIGH_WATER_BYTES) {
    socket.send(data, { binary: true });
    return Promise.resolve();
  }
  return new Promise((resolve) => socket.send(data, { binary: true }, () => resolve()));
}

/** Tells the client why, then closes with 4000 + status. */
export function closeWithError(socket: WebSocket, error: unknown): void {
  const e =
    error instanceof ServiceError
      ? error
      : new ServiceError("internal_error", "internal error; see the control plane's log");
  sendJson(socket, { type: "error", code: e.code, message: e.message });
  if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)
    socket.close(closeCodeFor(httpStatusOf(e.code)), e.code.slice(0, 100));
}

/**
 * An input failure (the process already gone, the host unreachable) is reported and the
 * session goes on: the exit message still follows. Only a malformed message ends it.
 */
export function reportInputError(socket: WebSocket, error: unknown): void {
  if (error instanceof ServiceError && error.code === "invalid_message") {
    closeWithError(socket, error);
    return;
  }
  const e = error instanceof ServiceError ? error : new ServiceError("input_failed", String(error));
  sendJson(socket, { type: "error", code: e.code, message: e.message });
}

/** Pings the client; one that misses a whole interval is cut. Returns a stop function. */
export function heartbeat(socket: WebSocket): () => void {
  let alive = true;
  socket.on("pong", () => {
    alive = true;
  });
  const timer = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    if (socket.readyState === WebSocket.OPEN) socket.ping();
  }, HEARTBEAT_MS);
  timer.unref();
  const stop = () => clearInterval(timer);
  socket.once("close", stop);
  return stop;
}
