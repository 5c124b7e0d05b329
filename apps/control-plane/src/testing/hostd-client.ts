// hostd.v1.HostService clients for tests and benchmarks: every protocol the control plane serves
// it in, and a raw HTTP/2 request for what a gRPC client such as grpcurl sends besides.
import { once } from "node:events";
import type http2 from "node:http2";
import {
  type Client,
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  type Interceptor,
} from "@connectrpc/connect";
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

/** One raw HTTP/2 request on an open session: its answer's headers and its body as text. */
export async function http2Ask(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  const stream = session.request(headers);
  stream.end();
  const [answer] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  stream.setEncoding("utf8");
  let body = "";
  for await (const piece of stream) body += piece;
  return { headers: answer, body };
}

/**
 * A HostService of two methods for listener tests: HostStatus wants the API key "k" (else
 * Unauthenticated), ListWorkspaces names one workspace. Answers and errors crossing a listener
 * show on both.
 */
export const twoMethodHostService = (router: ConnectRouter) =>
  router.service(HostService, {
    hostStatus: (_req, ctx) => {
      if (ctx.requestHeader.get("x-api-key") !== "k") {
        throw new ConnectError("an API key is required", Code.Unauthenticated);
      }
      return { totalVcpus: 7 };
    },
    listWorkspaces: () => ({ workspaces: [{ name: "one" }] }),
  });

/** What grpcurl asks first (server reflection): a gRPC method the control plane does not serve. */
export const GRPC_REFLECTION_REQUEST: http2.OutgoingHttpHeaders = {
  ":method": "POST",
  ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "content-type": "application/grpc",
  te: "trailers",
};
