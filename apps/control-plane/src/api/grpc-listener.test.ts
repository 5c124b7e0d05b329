import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { HostService } from "@wrenn/proto/hostd";
import pino from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadConfig } from "../config/config.js";
import { type GrpcListener, startGrpcListener } from "./grpc-listener.js";

// The gRPC listener with the control plane's certificate: h2 by ALPN, what grpcurl without
// -plaintext speaks. A HostService of two methods shows answers and errors (grpc-status and
// grpc-message) cross it; the real service in clear is in tests/workspaces/hostd.test.ts.
const routes = (router: ConnectRouter) =>
  router.service(HostService, {
    hostStatus: (_req, ctx) => {
      if (ctx.requestHeader.get("x-api-key") !== "k") {
        throw new ConnectError("an API key is required", Code.Unauthenticated);
      }
      return { totalVcpus: 7 };
    },
    listWorkspaces: () => ({ workspaces: [{ name: "one" }] }),
  });

let dir: string;
let cert: string;
let listener: GrpcListener;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wrenn-grpc-tls-"));
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", "key.pem", "-out", "cert.pem"],
    ],
    { cwd: dir, stdio: "ignore" },
  );
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
  listener = await startGrpcListener({
    host: "127.0.0.1",
    port: 0,
    tls: { cert, key: readFileSync(join(dir, "key.pem"), "utf8") },
    rpc: { prefix: "/hostd.v1.HostService/", handler: connectNodeAdapter({ routes }) },
    logger: pino({ level: "silent" }),
  });
});
afterAll(async () => {
  await listener?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("with TLS: gRPC over h2, answers and errors; a client that offers only HTTP/1.1 is refused", async () => {
  const url = `https://${listener.address}`;
  const session = new Http2SessionManager(url, undefined, { ca: cert });
  const client = (key: string | null) =>
    createClient(
      HostService,
      createGrpcTransport({
        baseUrl: url,
        sessionManager: session,
        interceptors: [
          (next) => async (req) => {
            if (key !== null) req.header.set("x-api-key", key);
            return next(req);
          },
        ],
      }),
    );
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
