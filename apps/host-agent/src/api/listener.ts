import { timingSafeEqual } from "node:crypto";
import { rm } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type net from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type ErrorCode, errorMessage, httpStatusOf } from "@wrenn/contract";
import { acceptBothHttpVersions } from "@wrenn/http-relay";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { FORWARD_SANDBOX, FORWARD_TOKEN, type Forwarder, sendError } from "./forwarder.js";

export interface ListenerOptions {
  /** "127.0.0.1:7070", "[::1]:7070", "0.0.0.0:7070" or "unix:/run/wrenn/agent.sock". */
  listen: string;
  /** Required unless the agent listens on loopback or a Unix socket. */
  token?: string;
  /**
   * PEM certificate chain and key (WRENN_AGENT_TLS_CERT / _KEY): the port then speaks TLS
   * only, HTTP/2 or HTTP/1.1 by ALPN. Required unless the agent listens on loopback or a Unix
   * socket: the token and everything forwarded to sandboxes must not cross a network in clear.
   */
  tls?: { cert: string; key: string };
  /** A Bearer token that may read /metrics only (for a Prometheus scraper). */
  metricsToken?: string;
  routes: (router: ConnectRouter) => void;
  forwarder: Forwarder;
  metrics: Registry;
  log: Logger;
}

export interface ListenAddress {
  host?: string;
  port?: number;
  path?: string;
}

export function parseListen(listen: string): ListenAddress {
  if (listen.startsWith("unix:")) return { path: listen.slice(5) };
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(listen);
  if (!m)
    throw new Error(
      `cannot parse listen address ${JSON.stringify(listen)}; use HOST:PORT or unix:PATH`,
    );
  return { host: m[1], port: Number(m[2]) };
}

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function isLoopback(a: ListenAddress): boolean {
  return (
    a.path !== undefined ||
    a.host === "localhost" ||
    a.host === "::1" ||
    /^127\./.test(a.host ?? "")
  );
}

/**
 * One port for everything the control plane needs: Connect, gRPC and gRPC-web over HTTP/1.1
 * or HTTP/2 (cleartext with prior knowledge, so grpcurl -plaintext works, or h2 by ALPN), the
 * forwarder, and /metrics.
 */
export async function startListener(
  opts: ListenerOptions,
): Promise<{ close(): Promise<void>; address: string }> {
  const addr = parseListen(opts.listen);
  if (!isLoopback(addr) && !opts.token) {
    throw new Error(
      `refusing to listen on ${opts.listen} without a token: set WRENN_AGENT_TOKEN (or listen on loopback)`,
    );
  }
  if (!isLoopback(addr) && !opts.tls) {
    throw new Error(
      `refusing to listen on ${opts.listen} without TLS: set WRENN_AGENT_TLS_CERT and WRENN_AGENT_TLS_KEY (docs/hosts.md, "TLS for agents"), or listen on loopback behind your own TLS front`,
    );
  }
  const connect = connectNodeAdapter({ routes: opts.routes });
  const expected = opts.token ? Buffer.from(opts.token) : undefined;
  const matches = (given: string | undefined): boolean => {
    if (!expected) return true;
    const bytes = Buffer.from(given ?? "");
    return bytes.length === expected.length && timingSafeEqual(bytes, expected);
  };
  // Two powers, two headers. Wrenn-Agent-Token only lets the control plane's proxy carry
  // a request to a sandbox: it is on every public request the proxy forwards, so it must never
  // also reach the agent's own API. That (Connect RPCs, /metrics, /healthz) takes the token as
  // Authorization: Bearer only.
  const mayForward = (headers: http.IncomingHttpHeaders): boolean =>
    matches(single(headers[FORWARD_TOKEN]));
  const bearer = (headers: http.IncomingHttpHeaders) =>
    /^Bearer (.+)$/.exec(String(headers.authorization ?? ""))?.[1];
  const mayCallAgent = (headers: http.IncomingHttpHeaders): boolean => matches(bearer(headers));
  const metricsSecret = opts.metricsToken ? Buffer.from(opts.metricsToken) : undefined;
  // The scrape token reads /metrics and nothing else: it can be handed to a monitoring system.
  const mayReadMetrics = (headers: http.IncomingHttpHeaders): boolean => {
    if (mayCallAgent(headers)) return true;
    const given = Buffer.from(bearer(headers) ?? "");
    return (
      metricsSecret !== undefined &&
      given.length === metricsSecret.length &&
      timingSafeEqual(given, metricsSecret)
    );
  };

  const handle = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    const r1 = req as http.IncomingMessage;
    const s1 = res as http.ServerResponse;
    // The forward header decides first: a request meant for a sandbox goes to the sandbox,
    // whatever its path (a user's app may serve /metrics or /healthz itself).
    if (req.headers[FORWARD_SANDBOX] !== undefined) {
      if (!mayForward(req.headers)) {
        refuseWith(s1, "invalid_agent_token");
        return;
      }
      if (req.httpVersionMajor !== 1) {
        refuseWith(s1, "http1_only");
        return;
      }
      opts.forwarder.web(r1, s1);
      return;
    }
    const metricsRequest = req.url === "/metrics" && req.method === "GET";
    if (!(metricsRequest ? mayReadMetrics(req.headers) : mayCallAgent(req.headers))) {
      refuseWith(s1, "invalid_agent_token");
      return;
    }
    if (metricsRequest) {
      opts.metrics.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": opts.metrics.contentType });
          res.end(text);
        },
        (err: Error) => refuseWith(s1, "internal_error", `metrics: ${err.message}`),
      );
      return;
    }
    if (req.url === "/healthz") {
      res.writeHead(204);
      res.end();
      return;
    }
    connect(r1, s1);
  };

  // With TLS, ALPN tells HTTP/2 from HTTP/1.1 (grpcurl and the control plane's clients offer
  // it); in clear, a connection's first bytes do (acceptBothHttpVersions).
  const h1: http.Server = opts.tls
    ? https.createServer(
        { cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ["h2", "http/1.1"] },
        handle,
      )
    : http.createServer(handle);
  h1.on("upgrade", (req: http.IncomingMessage, socket, head: Buffer) => {
    if (req.headers[FORWARD_SANDBOX] === undefined || !mayForward(req.headers)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n");
      return;
    }
    opts.forwarder.ws(req, socket, head);
  });
  // Long streams (process output, file transfers) must not be cut by server timeouts.
  h1.requestTimeout = 0;
  h1.headersTimeout = 60_000;
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handle);
  const both = acceptBothHttpVersions({ h1, h2 });
  // A handshake that fails is the peer's problem and only closes its socket.
  if (opts.tls) h1.on("tlsClientError", (_error: Error, socket: net.Socket) => socket.destroy());

  const sockets = new Set<net.Socket>();
  h1.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  if (addr.path) await rm(addr.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    h1.once("error", reject);
    if (addr.path) h1.listen(addr.path, resolve);
    else h1.listen(addr.port, addr.host, resolve);
  });
  const a = h1.address();
  const address = typeof a === "string" ? `unix:${a}` : `${a?.address}:${a?.port}`;
  opts.log.info({ address, tls: opts.tls !== undefined }, "agent listening");
  return {
    address,
    // Open streams (process output, HTTP/2 sessions of gRPC clients) would hold close()
    // forever: the control plane reconnects, so cut them.
    close: () =>
      new Promise<void>((resolve) => {
        both.close();
        h1.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** A refusal of the agent's own listener: a contract code, its status and message. */
function refuseWith(res: http.ServerResponse, code: ErrorCode, message?: string): void {
  sendError(res, httpStatusOf(code), code, message ?? errorMessage(code));
}
