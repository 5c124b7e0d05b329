import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { RpcMount } from "./server.js";

/**
 * The RPC service (hostd.v1.HostService) over HTTP/2 on an address of its own
 * (WRENN_GRPC_LISTEN): what gRPC clients such as grpcurl speak. In clear it is h2c with prior
 * knowledge (`grpcurl -plaintext`); with the control plane's certificate, h2 by ALPN.
 *
 * Its own address, not the API's port: telling HTTP/2 from HTTP/1.1 in clear means reading a
 * connection's first bytes before Node's HTTP/1.1 server sees them, and doing that through the
 * stream API broke HTTP/1.1's backpressure on every such connection (a 400 MiB upload through
 * the proxy grew the control plane by the file's size).
 */
export interface GrpcListener {
  /** The address it listens on, as `host:port`. */
  readonly address: string;
  close(): Promise<void>;
}

export interface GrpcListenerOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string } | undefined;
  rpc: RpcMount;
  logger: Logger;
  /** An HTTP/2 session with no traffic this long is ended (its open calls finish first). */
  idleMs?: number;
}

export async function startGrpcListener(o: GrpcListenerOptions): Promise<GrpcListener> {
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.url.startsWith(o.rpc.prefix)) {
      o.rpc.handler(req, res);
      return;
    }
    // Another gRPC method: Unimplemented, trailers-only (the status rides in the headers), so
    // grpcurl says there is no reflection and asks for the .proto. Anything else: 404.
    if (String(req.headers["content-type"] ?? "").startsWith("application/grpc")) {
      res.writeHead(200, {
        "content-type": "application/grpc",
        "grpc-status": String(Code.Unimplemented),
        "grpc-message": encodeURIComponent(
          `only ${o.rpc.prefix.replaceAll("/", "")} is served here (no reflection: give grpcurl the .proto)`,
        ),
      });
      res.end();
      return;
    }
    const message = `this address serves ${o.rpc.prefix}* over HTTP/2 only; the API is on the control plane's main address`;
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message } }));
  };
  const server = o.tls
    ? http2.createSecureServer({ ...o.tls, ALPNProtocols: ["h2"] }, handler)
    : http2.createServer({}, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  server.on("session", (session) => {
    if (closing) {
      session.close();
      return;
    }
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // gRPC clients keep sessions open; an idle one is sent GOAWAY, its calls under way finish
  // (a CreateWorkspace may be silent for a minute).
  server.setTimeout(o.idleMs ?? 72_000);
  server.on("timeout", (session: http2.ServerHttp2Session) => session.close());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  const address = `${host}:${port}`;
  o.logger.info({ address, tls: o.tls !== undefined }, "gRPC (HTTP/2) listening");
  return {
    address,
    close() {
      closing = true;
      for (const session of sessions) session.close();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
