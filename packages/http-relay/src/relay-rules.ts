import type http from "node:http";
import type { ProxyServer } from "http-proxy-3";
import { settleEarlyAnswer } from "./early-answer.js";

/** Requests whose body a hop stopped relaying because the next hop had answered in full. */
const settled = new WeakSet<http.IncomingMessage>();

/**
 * What every Wrenn hop in front of a sandbox (the control plane's proxy, the host agent's
 * forwarder) does to the traffic it relays, installed once per proxy server:
 *
 * - `Connection` is hop-by-hop (RFC 9110 §7.6.1). A caller's `connection: close` must not
 *   reach the next hop on a pooled keep-alive socket (that hop then refuses the next request
 *   on it with a bare 400), and the next hop's `connection: keep-alive` must not reach a caller
 *   whose connection this hop is about to close. Each side gets this hop's own value.
 * - A body the next hop answered without reading is drained here (settleEarlyAnswer).
 */
export function installRelayRules(proxy: ProxyServer): void {
  const outgoing = new WeakMap<http.IncomingMessage, http.ClientRequest>();
  // Before the outgoing request is built from req.headers (its headers may be on the wire by
  // the time 'proxyReq' fires on a pooled socket). Node's server keeps its own parsed view of
  // whether the caller's connection stays open, so rewriting the header object is safe.
  proxy.on("start", (req) => {
    req.headers.connection = "keep-alive";
    delete req.headers["keep-alive"];
  });
  proxy.on("proxyReq", (proxyReq, req) => outgoing.set(req, proxyReq));
  proxy.on("proxyRes", (proxyRes, req, res) => {
    // The caller is told what this hop will do with its connection, not what the next did.
    proxyRes.headers.connection = res.shouldKeepAlive ? "keep-alive" : "close";
    delete proxyRes.headers["keep-alive"];
    const proxyReq = outgoing.get(req);
    if (proxyReq && !req.complete) {
      settleEarlyAnswer(req, proxyReq, proxyRes, () => settled.add(req));
    }
  });
}

/**
 * Whether an error on this exchange comes from a relay this hop cut on purpose (its answer
 * was already passed on in full): the proxy's error handler must then leave the caller's
 * connection alone, or the caller's next request on it would fail.
 */
export function cutOnPurpose(req: http.IncomingMessage): boolean {
  return settled.has(req);
}
