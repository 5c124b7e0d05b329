import { type Client, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Http2SessionManager,
} from "@connectrpc/connect-node";
import { HostService } from "@wrenn/proto/hostd";

/** The protocol a client speaks: Connect or gRPC-web on HTTP/1.1, or gRPC on HTTP/2. */
export type HostdProtocol = "connect" | "grpc-web" | { grpc: Http2SessionManager };

/** A hostd.v1.HostService client on the control plane's address, with this key (or none). */
export function hostdClient(
  baseUrl: string,
  key: string | null,
  protocol: HostdProtocol = "connect",
): Client<typeof HostService> {
  const interceptors = [
    ((next) => async (req) => {
      if (key !== null) req.header.set("x-api-key", key);
      return next(req);
    }) satisfies Interceptor,
  ];
  if (typeof protocol === "object") {
    // HTTP/2 as grpcurl speaks it: prior knowledge in clear, ALPN h2 over TLS. The session
    // manager is the caller's, so it can close the connection.
    const { grpc } = protocol;
    return createClient(
      HostService,
      createGrpcTransport({ baseUrl, sessionManager: grpc, interceptors }),
    );
  }
  const options = { baseUrl, httpVersion: "1.1" as const, interceptors };
  return createClient(
    HostService,
    protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options),
  );
}

/** The Connect error a call fails with (and fails the test if it succeeds). */
export async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded");
}
