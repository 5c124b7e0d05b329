import type { AddressInfo } from "node:net";
import { trackHttp2Sessions } from "@wrenn/http-relay";
import type { Logger } from "pino";
import { createRpcHttp2Server } from "./rpc-http2-server.js";
import type { RpcMount } from "./server.js";

/**
 * The RPC service (hostd.v1.HostService) over HTTP/2 on a second address of its own
 * (WRENN_GRPC_LISTEN), optional: the API's own address serves gRPC as well (server.ts), and
 * this one is for operators who want gRPC apart (another interface, another firewall rule).
 * In clear it is h2c with prior knowledge (`grpcurl -plaintext`); with the control plane's
 * certificate, h2 by ALPN. It serves what the main port's HTTP/2 serves (rpc-http2-server.ts).
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
  const server = createRpcHttp2Server(o.rpc, { tls: o.tls, idleMs: o.idleMs });
  const sessions = trackHttp2Sessions(server);
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
      sessions.closeAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
