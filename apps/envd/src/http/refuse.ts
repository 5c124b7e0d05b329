import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { drainUnusedBody, UNUSED_BODY_LIMITS } from "@wrenn/http-relay";
import { jsonError } from "./respond.js";

// A connection envd wants gone gets this long for the client to close it first; then envd
// resets it. Either way envd never sends the first FIN (see closeWithoutFin).
const LINGER_MS = 1000;

/**
 * Ends a connection without envd sending a FIN: once the client closes its side, or after
 * LINGER_MS, the socket is reset. The side that sends the first FIN keeps the endpoint in
 * TIME_WAIT, which gVisor's netstack refuses to checkpoint.
 */
export function closeWithoutFin(socket: Socket): void {
  const reset = () => {
    clearTimeout(timer);
    if (!socket.destroyed) socket.resetAndDestroy();
  };
  // Prepended: Node's HTTP server would otherwise answer the client's FIN with its own FIN.
  socket.prependOnceListener("end", reset);
  const timer = setTimeout(reset, LINGER_MS);
}

/**
 * Answers an error for a request whose body envd will not use, reading at most
 * UNUSED_BODY_LIMITS of that body. The answer is a plain keep-alive one: `connection: close`
 * would make every proxy on the way close its own connection with the body still arriving,
 * and a close with unread data is a reset that can destroy the answer before it is read. A
 * body that ends within the bounds leaves the connection usable (its next request is parsed
 * as usual); one that does not is reset, and cannot have been reused meanwhile: its sender is
 * still sending. Nothing a caller without the token sends holds a connection longer.
 */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (bodyPending(req) && !res.headersSent) {
    // Reset, not FIN, past the bounds (see closeWithoutFin).
    drainUnusedBody(req, UNUSED_BODY_LIMITS, (socket) => socket.resetAndDestroy());
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  jsonError(res, status, message);
}

/**
 * Whether a request declares a body that has not all been parsed yet. (A request is handled
 * as soon as its headers are parsed, so even a small body is usually still pending here.)
 */
export function bodyPending(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0"))
    return false;
  return !req.complete;
}
