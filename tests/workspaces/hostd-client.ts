import { type Client, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { HostService } from "@wrenn/proto/hostd";

/** A hostd.v1.HostService client on the control plane's address, with this key (or none). */
export function hostdClient(
  baseUrl: string,
  key: string | null,
  grpcWeb = false,
): Client<typeof HostService> {
  const options = {
    baseUrl,
    httpVersion: "1.1" as const,
    interceptors: [
      ((next) => async (req) => {
        if (key !== null) req.header.set("x-api-key", key);
        return next(req);
      }) satisfies Interceptor,
    ],
  };
  return createClient(
    HostService,
    grpcWeb ? createGrpcWebTransport(options) : createConnectTransport(options),
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
