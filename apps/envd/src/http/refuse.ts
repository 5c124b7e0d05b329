import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
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
 * Answers an error without reading the request's body. When the body has not all arrived,
 * Node would read (and drop) the rest to keep the connection for a next request: for a caller
 * without the token that is a read of whatever it chooses to send, and a connection in the
 * host agent's pool that the sandbox's owner then waits behind. Such a connection is told
 * `connection: close` and reset once the client closes it or after LINGER_MS: its remaining
 * body is never read.
 */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (!bodyPending(req) || res.headersSent) {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    jsonError(res, status, message);
    return;
  }
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  const body = JSON.stringify({ code: status, message });
  const socket = req.socket;
  // Written on the socket itself: Node's response would end it with a FIN (see above).
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\ncontent-type: application/json; charset=utf-8\r\nx-content-type-options: nosniff\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n${extra}\r\n${body}`,
  );
  // Node's parser must not take bytes after this as a next request on this connection.
  socket.pause();
  req.unpipe();
  closeWithoutFin(socket);
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
