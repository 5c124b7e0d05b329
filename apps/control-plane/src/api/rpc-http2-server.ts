import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import type { RpcMount } from "./server.js";

/**
 * An HTTP/2 session with no traffic this long is sent GOAWAY: as long as HTTP/1.1 keeps an idle
 * connection (server.ts).
 */
const HTTP2_IDLE_MS = 72_000;

export interface RpcHttp2Options {
  /** Its own TLS (WRENN_GRPC_LISTEN): h2 by ALPN. Without, it takes connections it is handed. */
  tls?: { cert: string; key: string } | undefined;
  idleMs?: number;
}

/**
 * The control plane's HTTP/2: the RPC service (hostd.v1.HostService) and nothing else, on the
 * API's own port (connections handed over by acceptBothHttpVersions) and on WRENN_GRPC_LISTEN.
 * Fastify, the sandbox proxy and WebSockets are HTTP/1.1 code, and the clients that speak
 * HTTP/2 here are gRPC ones (browsers and curl stay on HTTP/1.1 by ALPN).
 */
export function createRpcHttp2Server(
  rpc: RpcMount,
  o: RpcHttp2Options = {},
): http2.Http2Server | http2.Http2SecureServer {
  const handler = rpcOverHttp2(rpc);
  const server = o.tls
    ? http2.createSecureServer({ ...o.tls, ALPNProtocols: ["h2"] }, handler)
    : http2.createServer({}, handler);
  // gRPC clients keep sessions open; an idle one is sent GOAWAY, its calls under way finish
  // (a CreateWorkspace may be silent for a minute).
  server.setTimeout(o.idleMs ?? HTTP2_IDLE_MS);
  server.on("timeout", (session: http2.ServerHttp2Session) => session.close());
  return server;
}

function rpcOverHttp2(
  rpc: RpcMount,
): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void {
  const service = rpc.prefix.replaceAll("/", "");
  return (req, res) => {
    if (req.url.startsWith(rpc.prefix)) {
      rpc.handler(req, res);
      return;
    }
    // Another gRPC method: Unimplemented, trailers-only (the status rides in the headers), so
    // grpcurl says there is no reflection and asks for the .proto. Anything else: 404.
    if (String(req.headers["content-type"] ?? "").startsWith("application/grpc")) {
      res.writeHead(200, {
        "content-type": "application/grpc",
        "grpc-status": String(Code.Unimplemented),
        "grpc-message": encodeURIComponent(
          `only ${service} is served over HTTP/2 (no reflection: give grpcurl the .proto)`,
        ),
      });
      res.end();
      return;
    }
    const message = `HTTP/2 serves ${rpc.prefix}* only; the REST API, the admin UI and sandbox traffic are HTTP/1.1`;
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message } }));
  };
}
