// The link's grace period against a real HTTP listener on loopback standing in for the control
// plane's three host routes (the e2e twin with a real control plane: tests/e2e-stack/fleet-netns).
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HostHeartbeatBody } from "@wrenn/contract";
import { pino } from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { testCertificate } from "../network/egress-test-kit.js";
import { ControlPlaneLink } from "./control-plane-link.js";
import { saveCredentials } from "./host-credentials.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const body = {} as HostHeartbeatBody;

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

describe("ControlPlaneLink's grace period", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  /** A control plane answering heartbeats with `status` (and its error code), on a fixed port. */
  async function controlPlane(port: number, answer: () => { status: number; code?: string }) {
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const { status, code } = answer();
        res.writeHead(status, { "content-type": "application/json" });
        res.end(status === 204 ? "" : JSON.stringify({ error: { code, message: code } }));
      });
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    return server;
  }

  async function link(url: string, graceMs: number, onGraceExpired: () => Promise<void>) {
    const dataDir = await mkdtemp(path.join(tmpdir(), "wrenn-link-test-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await saveCredentials(dataDir, {
      controlPlaneUrl: url,
      hostId: "host-0000000a",
      agentToken: "wrha_x",
      jwt: "jwt",
      jwtExpiresAt: new Date().toISOString(),
      refreshToken: "wrhr_x",
      refreshExpiresAt: new Date().toISOString(),
    });
    const l = await ControlPlaneLink.open({
      controlPlaneUrl: url,
      registrationToken: "",
      advertiseUrl: "http://127.0.0.1:1",
      dataDir,
      log: pino({ level: "silent" }),
      graceMs,
      onGraceExpired,
    });
    cleanups.push(() => l.stop());
    return l;
  }

  test("unreachable past the grace: pauses (again at each failed beat), and stops once a beat is accepted", async () => {
    const server = await controlPlane(0, () => ({ status: 204 }));
    const port = (server.address() as AddressInfo).port;
    await close(server);
    let pauses = 0;
    const l = await link(`http://127.0.0.1:${port}`, 300, async () => {
      pauses++;
    });
    l.start(50, async () => body);
    await waitUntil(() => pauses >= 2, "the sandboxes paused");

    const back = await controlPlane(port, () => ({ status: 204 }));
    cleanups.push(() => close(back));
    await sleep(300);
    const settled = pauses;
    await sleep(500);
    expect(pauses).toBe(settled);
  });

  test("a refused heartbeat and refresh (the host was deleted) count as no control plane; within the grace nothing is paused", async () => {
    let answers = 0;
    const server = await controlPlane(0, () => {
      answers++;
      return { status: 403, code: "host_deleted" };
    });
    cleanups.push(() => close(server));
    const port = (server.address() as AddressInfo).port;
    let pauses = 0;
    const l = await link(`http://127.0.0.1:${port}`, 60_000, async () => {
      pauses++;
    });
    l.start(50, async () => body);
    await waitUntil(() => answers >= 6, "several refused beats");
    expect(pauses).toBe(0);

    let paused = 0;
    const short = await link(`http://127.0.0.1:${port}`, 200, async () => {
      paused++;
    });
    short.start(50, async () => body);
    await waitUntil(() => paused >= 1, "the sandboxes paused");
  });
});

describe("ControlPlaneLink over https", () => {
  test("registers with a control plane whose certificate WRENN_CONTROL_PLANE_CA holds; without it, the handshake is refused and nothing is stored", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "wrenn-link-tls-"));
    const files = await testCertificate(dir, ["127.0.0.1"]);
    const [cert, key] = [await readFile(files.cert, "utf8"), await readFile(files.key, "utf8")];
    const issued = {
      hostId: "host-0000000b",
      agentToken: "wrha_y",
      jwt: "jwt",
      jwtExpiresAt: new Date().toISOString(),
      refreshToken: "wrhr_y",
      refreshExpiresAt: new Date().toISOString(),
    };
    const seen: string[] = [];
    const server = createTlsServer({ cert, key }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () => {
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify(issued));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const open = (dataDir: string, controlPlaneCa?: string) =>
      ControlPlaneLink.open({
        controlPlaneUrl: url,
        registrationToken: "wrht_x",
        advertiseUrl: "https://127.0.0.1:1",
        dataDir,
        log: pino({ level: "silent" }),
        ...(controlPlaneCa ? { controlPlaneCa } : {}),
      });
    try {
      const untrusted = path.join(dir, "untrusted");
      await mkdir(untrusted);
      await expect(open(untrusted)).rejects.toThrow(/self-signed certificate/);
      expect(seen).toEqual([]);
      await expect(readFile(path.join(untrusted, "registration.json"))).rejects.toThrow(/ENOENT/);

      const trusted = path.join(dir, "trusted");
      await mkdir(trusted);
      const l = await open(trusted, cert);
      expect(l.hostId).toBe("host-0000000b");
      expect(seen).toEqual(["POST /v1/hosts/register"]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
