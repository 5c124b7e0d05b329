import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { loopbackCertificate, uploadUnread } from "@wrenn/http-relay/testing";
import { HostService } from "@wrenn/proto/hostd";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import type { SandboxProxy } from "../proxy/sandbox-proxy.js";
import type { AuditLog } from "../service/audit-log.js";
import {
  GRPC_REFLECTION_REQUEST,
  hostdClient,
  http2Ask,
  twoMethodHostService,
} from "../testing/hostd-client.js";
import type { ApiDeps } from "./api-deps.js";
import { buildServer } from "./server.js";

// The control plane's own port speaks both HTTP versions: gRPC clients (grpcurl, with TLS or
// -plaintext) reach hostd.v1.HostService over HTTP/2, and HTTP/1.1 (REST, Connect, the sandbox
// proxy, WebSockets) is as it was. The real server (buildServer, Fastify's listen and close)
// with a two-method HostService and a stand-in proxy: /sandbox/ paths are "sandbox traffic",
// whose POST bodies the stand-in never reads, as a sandbox that stops reading an upload.

const PREFIX = "/hostd.v1.HostService/";
const routes = twoMethodHostService;

const pair = loopbackCertificate();

interface Started {
  app: FastifyInstance;
  port: number;
  /** The server side of every TCP connection the API's server accepted. */
  sockets: net.Socket[];
  /** Requests that reached the stand-in proxy. */
  proxied: string[];
}

const started: Started[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) {
    // The held upload's connection: its server side no longer reads, so sees no client's FIN.
    s.app.server.closeAllConnections();
    await s.app.close();
  }
});

async function start(secure: boolean): Promise<Started> {
  const proxied: string[] = [];
  const echo = new WebSocketServer({ noServer: true });
  const proxy = {
    route: (req: http.IncomingMessage) => (req.url?.startsWith("/sandbox/") ? {} : null),
    web: (req: http.IncomingMessage, res: http.ServerResponse) => {
      proxied.push(`${req.method} ${req.url}`);
      if (req.method === "POST") return; // never read: the body must wait in the network
      res.end("from the sandbox");
    },
    ws: (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      echo.handleUpgrade(req, socket, head, (ws) => ws.on("message", (m) => ws.send(`${m}`))),
    close: () => echo.close(),
  } as unknown as SandboxProxy;
  const app = await buildServer({
    ...({} as ApiDeps),
    audit: {} as AuditLog,
    logger: pino({ level: "silent" }),
    version: "0.0.0-test",
    proxy,
    rpc: { prefix: PREFIX, handler: connectNodeAdapter({ routes }) },
    ...(secure ? { tls: pair } : {}),
  });
  const sockets: net.Socket[] = [];
  app.server.on("connection", (socket: net.Socket) => sockets.push(socket));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const s = { app, port: (app.server.address() as AddressInfo).port, sockets, proxied };
  started.push(s);
  return s;
}

const baseUrl = (s: Started, secure: boolean) =>
  `${secure ? "https" : "http"}://127.0.0.1:${s.port}`;

/** A HostService client over gRPC (HTTP/2: prior knowledge in clear, ALPN h2 with TLS). */
const grpcClient = (s: Started, secure: boolean, session: Http2SessionManager, key: string) =>
  hostdClient(baseUrl(s, secure), key, { grpc: session });

const sessionFor = (s: Started, secure: boolean) =>
  new Http2SessionManager(baseUrl(s, secure), undefined, secure ? { ca: pair.cert } : undefined);

/** One HTTP/1.1 request, trusting the test certificate under TLS. */
function h1(
  s: Started,
  secure: boolean,
  path: string,
): Promise<{ status: number; body: string; alpn: string | false | null | undefined }> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port: s.port, path, agent: false };
    // Offers both versions, as browsers and curl do: the server keeps them on HTTP/1.1.
    const req = secure
      ? https.get({
          ...options,
          ca: pair.cert,
          ALPNProtocols: ["h2", "http/1.1"],
        } as https.RequestOptions)
      : http.get(options);
    req.on("error", reject);
    req.on("response", (res) => {
      const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (piece: string) => {
        body += piece;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, alpn }));
    });
  });
}

/** One raw HTTP/2 request on the port: what grpcurl's reflection or a stray client sends. */
async function h2Request(
  s: Started,
  secure: boolean,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  const session = http2.connect(baseUrl(s, secure), secure ? { ca: pair.cert } : {});
  session.on("error", () => {});
  try {
    return await http2Ask(session, headers);
  } finally {
    session.close();
  }
}

describe.each([
  ["in clear (grpcurl -plaintext)", false],
  ["with TLS (h2 by ALPN)", true],
])("the API's port %s", (_name, secure) => {
  test("serves HostService over gRPC: answers and errors", async () => {
    const s = await start(secure);
    const session = sessionFor(s, secure);
    try {
      expect((await grpcClient(s, secure, session, "k").hostStatus({})).totalVcpus).toBe(7);
      const listed = await grpcClient(s, secure, session, "k").listWorkspaces({});
      expect(listed.workspaces.map((w) => w.name)).toEqual(["one"]);
      const refused = await grpcClient(s, secure, session, "wrong")
        .hostStatus({})
        .then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        );
      expect(refused?.code).toBe(Code.Unauthenticated);
      expect(refused?.rawMessage).toBe("an API key is required");
    } finally {
      session.abort();
    }
  });

  test("HTTP/2 serves nothing else: other gRPC methods Unimplemented, other paths 404", async () => {
    const s = await start(secure);
    const reflection = await h2Request(s, secure, GRPC_REFLECTION_REQUEST);
    expect(reflection.headers[":status"]).toBe(200);
    expect(reflection.headers["grpc-status"]).toBe(String(Code.Unimplemented));
    expect(decodeURIComponent(String(reflection.headers["grpc-message"]))).toMatch(
      /only hostd\.v1\.HostService is served over HTTP\/2/,
    );
    for (const path of ["/healthz", "/sandbox/x"]) {
      const other = await h2Request(s, secure, { ":method": "GET", ":path": path });
      expect(other.headers[":status"], path).toBe(404);
      expect(JSON.parse(other.body)).toMatchObject({
        error: { code: "not_found", message: expect.stringMatching(/REST API.*HTTP\/1\.1/) },
      });
    }
    expect(s.proxied).toEqual([]);
  });

  test("HTTP/1.1 is unchanged: REST, Connect, the proxy and WebSockets", async () => {
    const s = await start(secure);
    const health = await h1(s, secure, "/healthz");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok" });
    if (secure) expect(health.alpn).toBe("http/1.1");
    expect((await h1(s, secure, "/nowhere")).status).toBe(404);
    expect(await h1(s, secure, "/sandbox/page")).toMatchObject({
      status: 200,
      body: "from the sandbox",
    });
    // Connect over HTTP/1.1 on the same prefix.
    const connect = createClient(
      HostService,
      createConnectTransport({
        baseUrl: baseUrl(s, secure),
        httpVersion: "1.1",
        nodeOptions: secure ? { ca: pair.cert } : {},
      }),
    );
    expect((await connect.listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(["one"]);
    // An upgrade reaches the proxy's WebSocket side.
    const ws = new WebSocket(`${secure ? "wss" : "ws"}://127.0.0.1:${s.port}/sandbox/ws`, {
      ca: pair.cert,
    });
    await once(ws, "open");
    ws.send("ping");
    const [reply] = (await once(ws, "message")) as [Buffer];
    expect(reply.toString()).toBe("ping");
    ws.close();
  });

  test("an upload the sandbox does not read waits in the network, not in the control plane", async () => {
    const s = await start(secure);
    const socket = secure
      ? tls.connect({ host: "127.0.0.1", port: s.port, ca: pair.cert })
      : net.connect(s.port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, secure ? "secureConnect" : "connect");
    const bodyBytes = 64 * 1024 * 1024;
    const { written, read } = await uploadUnread(socket, {
      path: "/sandbox/upload",
      bodyBytes,
      serverBytesRead: () => s.sockets.reduce((sum, socket) => sum + socket.bytesRead, 0),
    });
    socket.destroy();
    expect(s.proxied).toEqual(["POST /sandbox/upload"]);
    expect(read, `read ${read} bytes of the ${written} written`).toBeLessThan(8 * 1024 * 1024);
    expect(written).toBeLessThan(bodyBytes);
  });

  test("close() ends promptly though a gRPC client keeps its HTTP/2 session open", async () => {
    const s = await start(secure);
    const session = sessionFor(s, secure);
    try {
      expect((await grpcClient(s, secure, session, "k").hostStatus({})).totalVcpus).toBe(7);
      started.splice(started.indexOf(s), 1);
      const closed = s.app.close().then(() => "closed");
      const sleep = new Promise((resolve) => setTimeout(resolve, 10_000, "still open"));
      expect(await Promise.race([closed, sleep])).toBe("closed");
    } finally {
      session.abort();
    }
  });
});
