import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { testCertificate } from "../network/egress-test-kit.js";
import type { Forwarder } from "./forwarder.js";
import { startListener } from "./listener.js";

const log = pino({ level: "silent" });
// The token check runs before any route, so no forwarder is reached in these tests.
const forwarder = {} as Forwarder;
const routes = () => {};

describe("agent listener", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("refuses to listen beyond loopback without a token, or without TLS", async () => {
    await expect(
      startListener({ listen: "0.0.0.0:0", routes, forwarder, metrics: new Registry(), log }),
    ).rejects.toThrow(/without a token/);
    await expect(
      startListener({
        listen: "0.0.0.0:0",
        token: "s3cret-token",
        routes,
        forwarder,
        metrics: new Registry(),
        log,
      }),
    ).rejects.toThrow(/without TLS: set WRENN_AGENT_TLS_CERT and WRENN_AGENT_TLS_KEY/);
  });

  it("with a certificate, speaks TLS only: HTTP/1.1 and HTTP/2 by ALPN, trusted by its CA", async () => {
    const pair = await selfSigned();
    const l = await startListener({
      listen: "0.0.0.0:0",
      token: "s3cret-token",
      tls: pair,
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    const port = Number(l.address.split(":").pop());
    const auth = { authorization: "Bearer s3cret-token" };
    // HTTP/1.1 over TLS, trusting only the certificate.
    const h1Status = await new Promise<number | undefined>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${port}/healthz`, { ca: pair.cert, headers: auth }, (r) => {
          r.resume();
          resolve(r.statusCode);
        })
        .on("error", reject);
    });
    expect(h1Status).toBe(204);
    // HTTP/2 over TLS (what grpcurl and gRPC clients use).
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pair.cert });
    const h2Status = await new Promise<unknown>((resolve, reject) => {
      const stream = session.request({ ":path": "/healthz", ...auth });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.on("error", reject);
      stream.end();
    });
    session.close();
    expect(h2Status).toBe(204);
    // A client that does not trust the certificate gets no answer, and plain HTTP gets none.
    await expect(fetch(`https://127.0.0.1:${port}/healthz`, { headers: auth })).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`, { headers: auth })).rejects.toThrow();
  });

  it("demands the token on every route when one is set", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      token: "s3cret-token",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    const url = `http://${l.address}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(401);
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: "Bearer wrong-token!" } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${url}/healthz`, { headers: { authorization: "Bearer s3cret-token" } })).status,
    ).toBe(204);
    // The proxy's forwarding token is no key to the agent's own API: it rides on public
    // requests (Authorization belongs to the sandbox's traffic).
    for (const path of ["/healthz", "/metrics", "/hostagent.v1.HostAgentService/ListSandboxes"]) {
      const r = await fetch(`${url}${path}`, { headers: { "wrenn-agent-token": "s3cret-token" } });
      expect(r.status, path).toBe(401);
    }
  });

  it("sends a request with the forward header to the sandbox, whatever its path", async () => {
    const seen: string[] = [];
    const recording = {
      web: (req: { url?: string }, res: ServerResponse) => {
        seen.push(req.url ?? "");
        res.writeHead(200);
        res.end("sandbox");
      },
    } as unknown as Forwarder;
    for (const token of ["s3cret-token", undefined]) {
      const l = await startListener({
        listen: "127.0.0.1:0",
        token,
        routes,
        forwarder: recording,
        metrics: new Registry(),
        log,
      });
      const url = `http://${l.address}`;
      const headers = {
        "wrenn-forward-sandbox": "sb-00000001",
        ...(token ? { "wrenn-agent-token": token } : {}),
      };
      for (const path of ["/metrics", "/healthz"]) {
        const r = await fetch(`${url}${path}`, { headers });
        expect(await r.text(), path).toBe("sandbox");
      }
      if (token) {
        // Forwarding needs the forwarding token; the agent's Bearer is not asked for.
        const r = await fetch(`${url}/metrics`, {
          headers: { "wrenn-forward-sandbox": "sb-00000001" },
        });
        expect(r.status).toBe(401);
      }
      await l.close();
    }
    expect(seen).toEqual(["/metrics", "/healthz", "/metrics", "/healthz"]);
  });

  it("a metrics token reads /metrics and nothing else", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      token: "s3cret-token",
      metricsToken: "scrape-only-token",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    const url = `http://${l.address}`;
    const scrape = { authorization: "Bearer scrape-only-token" };
    const metrics = await fetch(`${url}/metrics`, { headers: scrape });
    expect(metrics.status).toBe(200);
    for (const path of ["/healthz", "/hostagent.v1.HostAgentService/ListSandboxes"]) {
      expect((await fetch(`${url}${path}`, { headers: scrape })).status, path).toBe(401);
    }
    const agent = { authorization: "Bearer s3cret-token" };
    expect((await fetch(`${url}/metrics`, { headers: agent })).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
  });

  it("in clear, HTTP/2 with prior knowledge (grpcurl -plaintext) on the same port; close() ends its session", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    const session = http2.connect(`http://${l.address}`);
    session.on("error", () => {});
    const h2Status = await new Promise<unknown>((resolve, reject) => {
      const stream = session.request({ ":path": "/healthz" });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.on("error", reject);
      stream.end();
    });
    expect(h2Status).toBe(204);
    expect((await fetch(`http://${l.address}/healthz`)).status).toBe(204);
    // The session stays open (gRPC clients keep theirs): close() must not wait for it.
    const sessionClosed = new Promise((resolve) => session.once("close", resolve));
    await l.close();
    close = undefined;
    await sessionClosed;
  });

  it("serves without a token on loopback", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    expect((await fetch(`http://${l.address}/healthz`)).status).toBe(204);
  });
});

/** A certificate for 127.0.0.1 and its key, as an operator would make them with openssl. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "wrenn-listener-tls-"));
  try {
    const files = await testCertificate(dir, ["127.0.0.1"]);
    return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
