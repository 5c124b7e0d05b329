import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EgressProxy } from "./egress/egress-proxy.js";
import { type Socks5TestServer, socks5ServerIn } from "./egress/socks5-test-server.js";
import {
  closeStandIn,
  curlIn,
  headerEchoServerIn,
  leaseStandIn,
  type ProxiedNetwork,
  proxiedNetwork,
  testCertificate,
} from "./egress-test-kit.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  createFakeInternet,
  dnsServerIn,
  type FakeInternet,
  type Listener,
  probeTcp,
  sandboxId,
  sendUdp,
  startServer,
  type TestNetwork,
  udpListenIn,
  waitFor,
  webServerIn,
} from "./network-test-kit.js";
import type { NetworkPolicyRequest } from "./policy.js";

// egressProxy (E2B's bring-your-own SOCKS5 proxy): the sandbox's allowed TCP goes through a
// real SOCKS5 server in a stand-in internet this file creates (198.18.<subnet>.0/30, 198.19.<subnet>.5
// and .6, the subnet and every name leased for this run: leaseStandIn), which records what it was asked. Nothing leaves the host.

const STAND = leaseStandIn("s");
const SUBNET = STAND.subnet;
/** The name server and the SOCKS5 servers' address. */
const INNER = `198.18.${SUBNET}.2`;
const ALLOWED = `198.19.${SUBNET}.5`;
const DENIED = `198.19.${SUBNET}.6`;
const OPEN = `${INNER}:1080`;
const AUTH = `${INNER}:1081`;
/** Nothing listens there: a proxy that is down. */
const DOWN = `${INNER}:1099`;
/** A TCP port on ALLOWED that greets with the address it sees the client come from. */
const GREET = 7000;
/** What the control plane would have filled in for a header rule's secret. */
const SECRET = "sk-wrenn-socks-7d1e0b";

let net: ProxiedNetwork;
let t: TestNetwork;
let proxy: EgressProxy;
let inet: FakeInternet;
let dir: string;
let open: Socks5TestServer;
let auth: Socks5TestServer;
/** Every connection the greeting servers saw: "<server> <client address>". */
const seen: string[] = [];
const servers: Listener[] = [];
let ca: string;

/** Greets each client with the address it comes from, and prints it. */
const GREETER = `
const [host, port] = process.argv.slice(1);
require("net").createServer((c) => {
  c.on("error", () => {});
  process.stdout.write(host + " " + c.remoteAddress + "\\n");
  c.end(c.remoteAddress + "\\n");
}).listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

const curl = (sb: SandboxNetwork, ...args: string[]) => curlIn(sb, "--cacert", ca, ...args);
/** A sandbox whose resolv.conf names the stand-in internet's name server. */
const sandbox = (n: number, policy: NetworkPolicyRequest) => net.sandbox(n, policy);

/** The greeting from GREET on `address`, as the sandbox gets it (the address it was seen from). */
async function greeting(sb: SandboxNetwork, address = ALLOWED) {
  return probeTcp(sb.netns, address, GREET);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "wrenn-egress-socks-"));
  // echo.test (on INNER) answers with the headers it got; the egress proxy trusts this
  // certificate as the operator's upstream CA (WRENN_EGRESS_UPSTREAM_CA).
  const tls = await testCertificate(dir, ["allowed.test", "denied.test", "echo.test"]);
  ca = tls.cert;
  inet = await createFakeInternet(STAND.inetName, SUBNET);
  const names = { "allowed.test": ALLOWED, "denied.test": DENIED, "echo.test": INNER };
  servers.push(
    await dnsServerIn(inet.netns, INNER, names),
    await webServerIn(inet.netns, ALLOWED, "allowed", tls),
    await webServerIn(inet.netns, DENIED, "denied", tls),
    await headerEchoServerIn(inet.netns, INNER, tls),
  );
  for (const address of [ALLOWED, DENIED]) {
    servers.push(await startServer(inet.netns, GREETER, address, GREET, (line) => seen.push(line)));
  }
  open = await socks5ServerIn(inet.netns, INNER, 1080, names);
  auth = await socks5ServerIn(inet.netns, INNER, 1081, names, {
    username: "ana",
    password: "s3cret",
  });
  servers.push(open, auth);
  net = await proxiedNetwork({
    tag: STAND.tag,
    pool: STAND.pool,
    nameserver: INNER,
    proxy: { upstreamDns: [INNER], upstreamCa: [await readFile(tls.cert, "utf8")] },
  });
  ({ t, proxy } = net);
});

afterAll(() => closeStandIn({ net, servers, inet, dir, release: STAND.release }));

describe("egressProxy: allowed TCP through the user's SOCKS5 proxy", () => {
  it("a name rule's HTTPS goes through the proxy, which is asked for the name (remote DNS)", async () => {
    const sb = await sandbox(0x50, {
      allowInternet: false,
      allowOut: ["allowed.test"],
      egressProxy: { address: OPEN },
    });
    const before = open.asked.length;
    expect(await curl(sb, "https://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    expect(await curl(sb, "http://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    expect(open.asked.slice(before)).toEqual([
      { connect: "allowed.test", atyp: 3, port: 443 },
      { connect: "allowed.test", atyp: 3, port: 80 },
    ]);
  });

  it("an address rule's TCP on any port goes through it too: the destination sees the proxy", async () => {
    const direct = await sandbox(0x51, { allowInternet: false, allowOut: [ALLOWED] });
    const tunneled = await sandbox(0x52, {
      allowInternet: false,
      allowOut: [ALLOWED],
      egressProxy: { address: OPEN },
    });
    expect(await greeting(direct)).toEqual({ outcome: "connected", greeting: inet.hostSide });
    const before = open.asked.length;
    expect(await greeting(tunneled)).toEqual({ outcome: "connected", greeting: INNER });
    expect(open.asked.slice(before)).toEqual([{ connect: ALLOWED, atyp: 1, port: GREET }]);
  });

  it("with user name and password: accepted, and a wrong password refuses the connection", async () => {
    const good = await sandbox(0x53, {
      allowInternet: false,
      allowOut: [ALLOWED],
      egressProxy: { address: AUTH, username: "ana", password: "s3cret" },
    });
    expect(await greeting(good)).toEqual({ outcome: "connected", greeting: INNER });
    expect(auth.asked.at(-2)).toEqual({ auth: "ana", ok: true });
    expect(auth.asked.at(-1)).toEqual({ connect: ALLOWED, atyp: 1, port: GREET });
    // User name and password are held in memory only: the state on disk has the address alone.
    const onDisk = spawnSync("grep", ["-rlaF", "--", "s3cret", t.options.stateDir]);
    expect(onDisk.status, onDisk.stdout.toString()).toBe(1);
    expect(spawnSync("grep", ["-rlaF", "--", AUTH, t.options.stateDir]).status).toBe(0);

    const bad = await sandbox(0x54, {
      allowInternet: false,
      allowOut: [ALLOWED, "allowed.test"],
      egressProxy: { address: AUTH, username: "ana", password: "wrong" },
    });
    const seenBefore = seen.length;
    const askedBefore = auth.asked.length;
    expect((await greeting(bad)).outcome).not.toBe("connected");
    expect((await curl(bad, "https://allowed.test/")).code).not.toBe(0);
    expect(auth.asked.slice(askedBefore)).toEqual([
      { auth: "ana", ok: false },
      { auth: "ana", ok: false },
    ]);
    // Failing closed: nothing went direct.
    expect(seen.slice(seenBefore)).toEqual([]);
  });

  it("a proxy that is down means a refused connection, never a direct one", async () => {
    const sb = await sandbox(0x55, {
      allowInternet: true,
      allowOut: ["allowed.test"],
      egressProxy: { address: DOWN },
    });
    const seenBefore = seen.length;
    expect((await greeting(sb)).outcome).not.toBe("connected");
    expect((await greeting(sb, DENIED)).outcome).not.toBe("connected");
    expect((await curl(sb, "https://allowed.test/")).code).not.toBe(0);
    expect((await curl(sb, "-H", "Host: x", `http://${ALLOWED}/`)).code).not.toBe(0);
    expect(seen.slice(seenBefore)).toEqual([]);
  });

  it("denied destinations never reach the proxy", async () => {
    const sb = await sandbox(0x56, {
      allowInternet: false,
      allowOut: ["allowed.test"],
      egressProxy: { address: OPEN },
    });
    const before = open.asked.length;
    expect((await curl(sb, "-i", "http://denied.test/")).out).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect((await curl(sb, "https://denied.test/")).code).not.toBe(0);
    expect((await greeting(sb, DENIED)).outcome).not.toBe("connected");
    expect((await greeting(sb, ALLOWED)).outcome).not.toBe("connected");
    expect(open.asked.slice(before)).toEqual([]);
  });

  it("UDP is not tunneled: an allowed address gets it directly", async () => {
    const sb = await sandbox(0x57, {
      allowInternet: false,
      allowOut: [ALLOWED],
      egressProxy: { address: OPEN },
    });
    const udp = await udpListenIn(inet.netns, ALLOWED, 5353);
    try {
      const before = open.asked.length;
      await sendUdp(sb.netns, sb.guestIp, 40003, ALLOWED, 5353, "not-tunneled");
      await waitFor(() => udp.received.includes("not-tunneled"), 15_000);
      expect(open.asked.slice(before)).toEqual([]);
    } finally {
      await udp.close();
    }
  });

  it("a policy update adds and removes the proxy live", async () => {
    const sb = await sandbox(0x58, { allowInternet: false, allowOut: [ALLOWED] });
    expect(await greeting(sb)).toEqual({ outcome: "connected", greeting: inet.hostSide });
    await t.manager.setPolicy(sandboxId(0x58), {
      allowInternet: false,
      allowOut: [ALLOWED],
      egressProxy: { address: OPEN },
    });
    expect(await greeting(sb)).toEqual({ outcome: "connected", greeting: INNER });
    await t.manager.setPolicy(sandboxId(0x58), { allowInternet: false, allowOut: [ALLOWED] });
    expect(await greeting(sb)).toEqual({ outcome: "connected", greeting: inet.hostSide });
  });

  it("a proxy in the sandbox pool is refused", async () => {
    const sb = await sandbox(0x59, {
      allowInternet: false,
      allowOut: [ALLOWED],
      egressProxy: { address: `${STAND.inPool(2)}:1080` },
    });
    const seenBefore = seen.length;
    expect((await greeting(sb)).outcome).not.toBe("connected");
    expect(seen.slice(seenBefore)).toEqual([]);
  });

  it("header rules with an egressProxy: the requests they rewrite go out through the proxy too", async () => {
    const rules = { "echo.test": [{ transform: { headers: { "X-Api-Key": SECRET } } }] };
    const sb = await sandbox(0x5a, {
      allowInternet: false,
      allowOut: ["echo.test"],
      egressProxy: { address: OPEN },
      rules,
    });
    const sandboxCa = join(dir, "sandbox-ca-5a.pem");
    await writeFile(sandboxCa, await proxy.sandboxCa(sb.guestIp, sandboxId(0x5a)));
    const before = open.asked.length;
    const seenByEcho = { code: 0, out: `seen echo.test key=${SECRET}` };
    expect(await curlIn(sb, "--cacert", sandboxCa, "https://echo.test/")).toEqual(seenByEcho);
    expect(await curlIn(sb, "http://echo.test/")).toEqual(seenByEcho);
    // The proxy was asked for the name (remote DNS), once per connection the injector opened.
    expect(open.asked.slice(before)).toEqual([
      { connect: "echo.test", atyp: 3, port: 443 },
      { connect: "echo.test", atyp: 3, port: 80 },
    ]);

    // The proxy down: the rewritten request is refused with 502, never sent direct.
    const down = await sandbox(0x5b, {
      allowInternet: false,
      allowOut: ["echo.test"],
      egressProxy: { address: DOWN },
      rules,
    });
    const downCa = join(dir, "sandbox-ca-5b.pem");
    await writeFile(downCa, await proxy.sandboxCa(down.guestIp, sandboxId(0x5b)));
    for (const url of ["http://echo.test/", "https://echo.test/"]) {
      const r = await curlIn(down, "--cacert", downCa, "-i", url);
      expect(r.out).toMatch(/^HTTP\/1\.1 502 /);
      expect(r.out).not.toContain("seen echo.test");
    }
  });
});
