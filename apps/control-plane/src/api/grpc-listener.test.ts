import http2 from "node:http2";
import tls from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter, Http2SessionManager } from "@connectrpc/connect-node";
import { loopbackCertificate } from "@wrenn/http-relay/testing";
import pino from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadConfig } from "../config/config.js";
import { hostdClient, twoMethodHostService } from "../testing/hostd-client.js";
import { startTestStack, TEST_ADMIN_KEY } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import { type GrpcListener, startGrpcListener } from "./grpc-listener.js";

// WRENN_GRPC_LISTEN, the optional second address for gRPC, with the control plane's
// certificate: h2 by ALPN, what grpcurl without -plaintext speaks. A HostService of two methods
// shows answers and errors (grpc-status and grpc-message) cross it. The API's own port serves
// the same (server-http2.test.ts); the last test runs the real control plane with both.
const routes = twoMethodHostService;

let cert: string;
let listener: GrpcListener;

beforeAll(async () => {
  const pair = loopbackCertificate();
  cert = pair.cert;
  listener = await startGrpcListener({
    host: "127.0.0.1",
    port: 0,
    tls: pair,
    rpc: { prefix: "/hostd.v1.HostService/", handler: connectNodeAdapter({ routes }) },
    logger: pino({ level: "silent" }),
  });
});
afterAll(async () => {
  await listener?.close();
  await releaseTestDatabases();
});

test("with TLS: gRPC over h2, answers and errors; a client that offers only HTTP/1.1 is refused", async () => {
  const url = `https://${listener.address}`;
  const session = new Http2SessionManager(url, undefined, { ca: cert });
  const client = (key: string | null) => hostdClient(url, key, { grpc: session });
  try {
    expect((await client("k").hostStatus({})).totalVcpus).toBe(7);
    expect((await client("k").listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(["one"]);
    const anonymous = await client(null)
      .hostStatus({})
      .then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
    expect(anonymous?.code).toBe(Code.Unauthenticated);
    expect(anonymous?.rawMessage).toBe("an API key is required");
  } finally {
    session.abort();
  }
  // HTTP/1.1 is not spoken here (the API's address serves it): ALPN finds nothing in common.
  const refused = await new Promise<string>((resolve) => {
    const socket = tls.connect(
      {
        host: "127.0.0.1",
        port: Number(listener.address.split(":")[1]),
        ca: cert,
        ALPNProtocols: ["http/1.1"],
      },
      () => {
        resolve(`connected with ${socket.alpnProtocol}`);
        socket.destroy();
      },
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
    socket.on("error", (error) => resolve(error.message));
  });
  expect(refused).toMatch(/no application protocol/);
});

test("WRENN_GRPC_LISTEN: host:port, another address than WRENN_LISTEN", () => {
  expect(loadConfig({ WRENN_GRPC_LISTEN: "127.0.0.1:50051" }).grpc).toEqual({
    host: "127.0.0.1",
    port: 50051,
  });
  expect(loadConfig({}).grpc).toBeUndefined();
  expect(() => loadConfig({ WRENN_GRPC_LISTEN: "nope" })).toThrow(
    /WRENN_GRPC_LISTEN must be host:port/,
  );
  expect(() =>
    loadConfig({ WRENN_LISTEN: "127.0.0.1:3000", WRENN_GRPC_LISTEN: "127.0.0.1:3000" }),
  ).toThrow(/another address than WRENN_LISTEN/);
});

test("the control plane serves HostService over gRPC on its main address, and on WRENN_GRPC_LISTEN alike", async () => {
  const stack = await startTestStack(await freshDatabase("pglite"), {
    config: { grpc: { host: "127.0.0.1", port: 0 } },
  });
  try {
    const mainAddress = new URL(stack.cp.url).host;
    expect(stack.cp.grpcAddress).not.toBe(mainAddress);
    for (const address of [mainAddress, stack.cp.grpcAddress]) {
      const url = `http://${address}`;
      const session = new Http2SessionManager(url);
      const raw = http2.connect(url);
      raw.on("error", () => {});
      const client = (key: string | null) => hostdClient(url, key, { grpc: session });
      try {
        expect((await client(TEST_ADMIN_KEY).listWorkspaces({})).workspaces, url).toEqual([]);
        const anonymous = await client(null)
          .listWorkspaces({})
          .then(
            () => undefined,
            (error: unknown) => ConnectError.from(error),
          );
        expect(anonymous?.code, url).toBe(Code.Unauthenticated);
        // The same answer to grpcurl's reflection request on both: one handler.
        const stream = raw.request({
          ":method": "POST",
          ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          "content-type": "application/grpc",
        });
        stream.end();
        const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          stream.on("response", resolve);
          stream.on("error", reject);
        });
        expect(headers["grpc-status"], url).toBe(String(Code.Unimplemented));
        expect(decodeURIComponent(String(headers["grpc-message"])), url).toMatch(
          /only hostd\.v1\.HostService is served over HTTP\/2/,
        );
      } finally {
        session.abort();
        raw.close();
      }
    }
  } finally {
    await stack.close();
  }
});
