import type { ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";

/**
 * How much of a request body that nobody will use a hop still reads, and for how long, before
 * it resets the connection instead. The same bounds at every hop (envd, the host agent's
 * forwarder, the control plane's proxy): a caller without a token can make each hop read this
 * much and no more.
 */
export const UNUSED_BODY_LIMITS = { bytes: 4 * 1024 * 1024, ms: 5000 } as const;

export interface DrainLimits {
  bytes: number;
  ms: number;
}

/**
 * Reads and discards the rest of `req`'s body, at most `limits.bytes` for at most
 * `limits.ms`; past either bound the connection is dropped by `drop` (default: destroy).
 * A body that ends within the bounds leaves the connection usable for the caller's next
 * request.
 *
 * Counted on the request, never with a 'data' listener on the socket: Node's server reads
 * the socket itself, and a listener there switches the socket to a mode in which one paused
 * for backpressure (a body nobody read: a failed upload) never delivers another byte, so the
 * drain, and the client's next request on the connection, hung. Node's server removes a
 * request's 'data' listeners only when it dumps a body nobody reads, which the resume()
 * here rules out.
 */
export function drainUnusedBody(
  req: IncomingMessage,
  limits: DrainLimits = UNUSED_BODY_LIMITS,
  drop: (socket: Socket) => void = (socket) => socket.destroy(),
): void {
  const socket = req.socket;
  let read = 0;
  const settled = () => {
    clearTimeout(timer);
    req.removeListener("data", counter);
  };
  const stop = () => {
    settled();
    if (!socket.destroyed) drop(socket);
  };
  const timer = setTimeout(stop, limits.ms);
  timer.unref();
  function counter(chunk: Buffer) {
    read += chunk.byteLength;
    if (read > limits.bytes) stop();
  }
  req.once("end", settled);
  req.once("close", settled);
  req.on("data", counter);
  req.resume();
}

/**
 * For a proxy hop (http-proxy's `proxyRes` event): when the next hop has answered in full
 * while the caller is still sending the request body (a 401 before a large upload was read),
 * stop relaying that body and drain it here within the bounds.
 *
 * Why: Node's HTTP client stops writing a request body once its response has ended (the
 * request waits for a 'drain' that never comes), so a relay that keeps piping stalls: the
 * caller's body is never consumed, and the caller's next request on that keep-alive
 * connection waits for the server's 60 s header timeout. That stalled the owner's next
 * command after anyone posted a large body to their sandbox.
 */
export function settleEarlyAnswer(
  req: IncomingMessage,
  proxyReq: ClientRequest,
  proxyRes: IncomingMessage,
  onCut: () => void = () => undefined,
  limits: DrainLimits = UNUSED_BODY_LIMITS,
): void {
  proxyRes.once("end", () => {
    if (req.complete || req.destroyed) return;
    onCut();
    req.unpipe();
    // Its socket is mid-body and can never carry another request: not back to the pool.
    proxyReq.destroy();
    drainUnusedBody(req, limits);
  });
}
