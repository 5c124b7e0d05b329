import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Filesystem } from "@wrenn/proto/filesystem";
import { Process } from "@wrenn/proto/process";

export type Codec = "connect-json" | "connect-binary" | "grpc-web";

export interface RpcClients {
  process: Client<typeof Process>;
  filesystem: Client<typeof Filesystem>;
}

/** Process and filesystem clients over HTTP/1.1 with the chosen protocol and codec. */
export function rpcClients(
  baseUrl: string,
  codec: Codec,
  headers: Record<string, string> = {},
): RpcClients {
  const addHeaders: Interceptor = (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
  const options = { baseUrl, httpVersion: "1.1" as const, interceptors: [addHeaders] };
  const transport =
    codec === "grpc-web"
      ? createGrpcWebTransport({ ...options, useBinaryFormat: true })
      : createConnectTransport({ ...options, useBinaryFormat: codec === "connect-binary" });
  return {
    process: createClient(Process, transport),
    filesystem: createClient(Filesystem, transport),
  };
}
