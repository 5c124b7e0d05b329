import { mkdtemp, readFile, rm } from "node:fs/promises";
import type http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, Http2SessionManager } from "@connectrpc/connect-node";
import { HostService } from "@wrenn/proto/hostd";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DualListener, dualListener } from "../../apps/control-plane/src/api/listener.js";
import { testCertificate } from "../../apps/host-agent/src/network/egress-test-kit.js";
import { failure, hostdClient } from "./hostd-client.js";

// The control plane's listener on its own: gRPC over TLS (ALPN h2, what grpcurl without
// -plaintext does) beside HTTP/1.1, and its edges in clear. The real service over cleartext
// HTTP/2 is in hostd.test.ts; here a HostService of two methods shows the transport carries
// answers and errors (grpc-status and grpc-message in trailers) whichever version it is.
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
const rpc = connectNodeAdapter({ routes });
const http1: http.RequestListener = (_req, res) => res.end("http/1.1");

async function listening(l: DualListener): Promise<number> {
  await new Promise<void>((resolve) => l.server.listen(0, "127.0.0.1", resolve));
  return (l.server.address() as net.AddressInfo).port;
}

async function closed(l: DualListener): Promise<void> {
  l.close();
  await new Promise((resolve) => l.server.close(resolve));
}

describe("the control plane's listener", () => {
  let dir: string;
  let cert: string;
  let key: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wrenn-hostd-listener-"));
    const files = await testCertificate(dir, ["127.0.0.1"]);
    [cert, key] = await Promise.all([readFile(files.cert, "utf8"), readFile(files.key, "utf8")]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("with TLS: gRPC over h2 for h2-only clients, HTTP/1.1 for clients that offer it", async () => {
    const l = dualListener({
      tls: { cert, key },
      http1,
      http2: rpc,
      firstBytesTimeoutMs: 60_000,
      http2IdleMs: 60_000,
    });
    const port = await listening(l);
    const url = `https://127.0.0.1:${port}`;
    const session = new Http2SessionManager(url, undefined, { ca: cert });
    try {
      const grpc = hostdClient(url, "k", { grpc: session });
      expect((await grpc.hostStatus({})).totalVcpus).toBe(7);
      expect((await grpc.listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(["one"]);
      const anonymous = await failure(hostdClient(url, null, { grpc: session }).hostStatus({}));
      expect(anonymous.code).toBe(Code.Unauthenticated);
      expect(anonymous.rawMessage).toBe("an API key is required");

      // A browser or curl offers both and is answered in HTTP/1.1, as before HTTP/2 was served.
      const offered = await new Promise<string | false>((resolve, reject) => {
        const socket = tls.connect(
          { host: "127.0.0.1", port, ca: cert, ALPNProtocols: ["h2", "http/1.1"] },
          () => {
            resolve(socket.alpnProtocol ?? false);
            socket.destroy();
          },
        );
        socket.on("error", reject);
      });
      expect(offered).toBe("http/1.1");
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`${url}/`, { ca: cert }, (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => {
              text += chunk.toString();
            });
            res.on("end", () => resolve(text));
          })
          .on("error", reject);
      });
      expect(body).toBe("http/1.1");
    } finally {
      session.abort();
      await closed(l);
    }
  });

  test("in clear: a preface in pieces is HTTP/2, a silent connection is closed, close() ends HTTP/2 sessions", async () => {
    const l = dualListener({
      http1,
      http2: rpc,
      // Short: the silent connection below is closed by it.
      firstBytesTimeoutMs: 200,
      http2IdleMs: 60_000,
    });
    const port = await listening(l);

    // The preface's first bytes alone decide nothing: the rest follows, and the answer is an
    // HTTP/2 SETTINGS frame (type 4), not an HTTP/1.1 400.
    const first = await new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.write("PRI * HTTP/2");
        setImmediate(() => {
          socket.write(".0\r\n\r\nSM\r\n\r\n");
          socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
        });
      });
      socket.once("data", (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      });
      socket.on("error", reject);
    });
    expect(first[3]).toBe(4);

    // A connection that never sends a byte is not held.
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });

    // An open HTTP/2 session (gRPC clients keep theirs) does not hold the server's close.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const status = await new Promise<unknown>((resolve, reject) => {
      const stream = session.request({ ":path": "/" });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.on("error", reject);
      stream.resume();
      stream.end();
    });
    expect(status).toBe(404);
    const sessionClosed = new Promise((resolve) => session.once("close", resolve));
    await closed(l);
    await sessionClosed;
  });
});
