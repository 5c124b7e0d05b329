import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EgressProxy } from "./egress/egress-proxy.js";
import {
  closeStandIn,
  curlIn,
  leaseStandIn,
  type ProxiedNetwork,
  proxiedNetwork,
  standInAddresses,
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
  type UdpListener,
  udpListenIn,
  waitFor,
  webServerIn,
} from "./network-test-kit.js";

// Domain rules in allowOut, enforced by the egress proxy, against a fake internet this file
// creates (198.18.<subnet>.0/30 and two /32s behind it; the subnet and every name leased for this run): its own name server, and web servers on 80
// and 443 (a certificate made here) for allowed.test and denied.test. Nothing leaves the host.

const run = promisify(execFile);
const STAND = leaseStandIn("d");
const SUBNET = STAND.subnet;
/** NOWHERE: what the sandboxes are told is their name server; nothing listens there. */
const { dns: DNS, first: ALLOWED, second: DENIED, nowhere: NOWHERE } = standInAddresses(SUBNET);
/** A small per-sandbox connection cap for this file's proxy, so a test can reach it. */
const CAP = 6;
const RULES = ["allowed.test", "*.allowed.test", "rebind.test", "inpool.test"];

let net: ProxiedNetwork;
let t: TestNetwork;
let proxy: EgressProxy;
let inet: FakeInternet;
let dir: string;
const servers: Listener[] = [];

/** curl from inside the sandbox, trusting this file's certificate. */
const curl = (sb: SandboxNetwork, ...args: string[]) =>
  curlIn(sb, "--cacert", join(dir, "cert.pem"), ...args);

const sandbox = (n: number, policy: Parameters<TestNetwork["manager"]["setup"]>[1]) =>
  net.sandbox(n, policy);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "wrenn-egress-domains-"));
  const tls = await testCertificate(dir, ["allowed.test", "*.allowed.test", "denied.test"]);
  inet = await createFakeInternet(STAND.inetName, SUBNET);
  servers.push(
    await dnsServerIn(inet.netns, DNS, {
      "allowed.test": ALLOWED,
      "*.allowed.test": ALLOWED,
      "denied.test": DENIED,
      // Rebinding answers: names in allowOut whose address is one no sandbox may reach.
      "rebind.test": "169.254.169.254",
      "inpool.test": STAND.inPool(6),
      // The name server's address also serves a watched HTTP server (see watchServer).
      "watch.test": DNS,
    }),
    await webServerIn(inet.netns, ALLOWED, "allowed", tls),
    await webServerIn(inet.netns, DENIED, "denied", tls),
  );
  net = await proxiedNetwork({
    tag: STAND.tag,
    pool: STAND.pool,
    nameserver: NOWHERE,
    proxy: { upstreamDns: [DNS], maxPerSandbox: CAP },
  });
  ({ t, proxy } = net);
});

afterAll(() => closeStandIn({ net, servers, inet, dir, release: STAND.release }));

describe("domain rules in allowOut (egress proxy)", () => {
  let sb: SandboxNetwork;
  beforeAll(async () => {
    sb = await sandbox(0xd0, { allowInternet: false, allowOut: RULES });
  });

  it("names resolve in the sandbox through the agent's forwarder", async () => {
    const { stdout } = await run("ip", [
      "netns",
      "exec",
      sb.netns,
      "getent",
      "hosts",
      "denied.test",
    ]);
    expect(stdout).toMatch(new RegExp(`^${DENIED.replaceAll(".", "\\.")}\\s+denied\\.test`));
  });

  it("HTTP and HTTPS to an allowed name reach its server, wildcards too", async () => {
    expect(await curl(sb, "http://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    expect(await curl(sb, "https://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    expect(await curl(sb, "https://www.allowed.test/")).toEqual({
      code: 0,
      out: "allowed www.allowed.test",
    });
    expect(await curl(sb, "http://a.b.allowed.test/")).toEqual({
      code: 0,
      out: "allowed a.b.allowed.test",
    });
    expect(await curl(sb, "http://ALLOWED.test./")).toMatchObject({ code: 0 });
  });

  it("a name not in allowOut is refused: HTTP with a 403, TLS with an alert", async () => {
    const http = await curl(sb, "-i", "http://denied.test/");
    expect(http.out).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(http.out).toMatch(/name not allowed/);
    const https = await curl(sb, "https://denied.test/");
    expect(https.code).not.toBe(0);
    expect(https.out).not.toMatch(/denied denied\.test/);
  });

  it("a hard-coded address cannot reach another server: the proxy resolves the name itself", async () => {
    expect(
      await curl(sb, "--resolve", `allowed.test:443:${DENIED}`, "https://allowed.test/"),
    ).toEqual({ code: 0, out: "allowed allowed.test" });
    expect(await curl(sb, "-H", "Host: allowed.test", `http://${DENIED}/`)).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    // No name at all (an address literal sends no SNI): nothing to allow it by.
    expect((await curl(sb, "-k", `https://${DENIED}/`)).code).not.toBe(0);
  });

  it("a name that resolves to metadata or another sandbox is refused", async () => {
    for (const name of ["rebind.test", "inpool.test"]) {
      // The sandbox sends to a public address; the proxy resolves the name itself and refuses.
      const r = await curl(sb, "-i", "--resolve", `${name}:80:${DENIED}`, `http://${name}/`);
      expect(r.out).toMatch(/^HTTP\/1\.1 403 Forbidden/);
      expect(r.out).toMatch(/denied addresses/);
      // Sent to the denied address itself (the sandbox's own answer), the connection never
      // leaves the sandbox's namespace: its backstop drops it before any redirect could.
      const direct = await curl(sb, "-i", "--connect-timeout", "3", `http://${name}/`);
      expect(direct.code).not.toBe(0);
      expect(direct.out).not.toMatch(/HTTP\/1\.1/);
    }
  });

  it("other TCP ports and UDP other than DNS stay closed; address rules still work", async () => {
    expect((await probeTcp(sb.netns, ALLOWED, 8443)).outcome).not.toBe("connected");
    const byAddress = await sandbox(0xd1, { allowInternet: false, allowOut: [ALLOWED, "x.test"] });
    const udp: UdpListener = await udpListenIn(inet.netns, ALLOWED, 5353);
    try {
      await sendUdp(byAddress.netns, byAddress.guestIp, 40001, ALLOWED, 5353, "by-address");
      await sendUdp(sb.netns, sb.guestIp, 40002, ALLOWED, 5353, "by-name");
      await waitFor(() => udp.received.includes("by-address"), 10_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(udp.received).not.toContain("by-name");
    } finally {
      await udp.close();
    }
    // An address in allowOut goes its own way, not through the proxy (any port).
    expect(await curl(byAddress, "-H", "Host: whatever", `http://${ALLOWED}/`)).toEqual({
      code: 0,
      out: "allowed whatever",
    });
  });

  it("with internet access, a name in allowOut wins over denyOut (E2B's recipe)", async () => {
    const recipe = await sandbox(0xd2, {
      allowInternet: true,
      allowOut: ["allowed.test"],
      denyOut: ["0.0.0.0/0"],
    });
    expect(await curl(recipe, "https://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
    expect((await curl(recipe, "-i", "http://denied.test/")).out).toMatch(/403 Forbidden/);
    // denyOut closes one address; its name in allowOut reopens it, other addresses go direct.
    const partial = await sandbox(0xd3, {
      allowInternet: true,
      allowOut: ["denied.test"],
      denyOut: [`${DENIED}/32`],
    });
    expect(await curl(partial, "http://denied.test/")).toEqual({
      code: 0,
      out: "denied denied.test",
    });
    expect(await curl(partial, "-H", "Host: anything", `http://${ALLOWED}/`)).toEqual({
      code: 0,
      out: "allowed anything",
    });
    expect((await curl(partial, "-i", "-H", "Host: other.test", `http://${DENIED}/`)).out).toMatch(
      /403 Forbidden/,
    );
  });

  it("a policy update flips names live and cuts the proxied connections it forbids", async () => {
    const cut = await holdHttp(sb, "allowed.test");
    const kept = await holdHttp(sb, "www.allowed.test");
    try {
      await t.manager.setPolicy(sandboxId(0xd0), {
        allowInternet: false,
        allowOut: ["denied.test", "*.allowed.test"],
      });
      await waitFor(() => cut.received.some((l) => l.startsWith("closed")), 15_000);
      const before = kept.received.length;
      await waitFor(() => kept.received.length > before + 3, 15_000);
      expect(kept.received.some((l) => l.startsWith("closed"))).toBe(false);
      expect((await curl(sb, "-i", "http://allowed.test/")).out).toMatch(/403 Forbidden/);
      expect(await curl(sb, "https://denied.test/")).toEqual({
        code: 0,
        out: "denied denied.test",
      });
    } finally {
      await cut.close();
      await kept.close();
    }
  });
});

/** An HTTP/1.1 connection kept open, a request every 200 ms: "ok" per answer, "closed" at the end. */
const HTTP_HOLDER = `
const [ip, , host] = process.argv.slice(1);
const s = require("net").connect({ host: ip, port: 80 });
const ask = () => s.write("GET / HTTP/1.1\\r\\nHost: " + host + "\\r\\n\\r\\n");
let timer;
s.on("connect", ask);
s.on("data", () => {
  if (!timer) { process.stdout.write("ready\\n"); timer = setInterval(ask, 200); }
  process.stdout.write("ok\\n");
});
const end = (code) => { clearInterval(timer); process.stdout.write("closed " + code + "\\n"); process.exit(0); };
s.on("error", (e) => end(e.code || e.message));
s.on("close", () => end("close"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

async function holdHttp(sb: SandboxNetwork, host: string) {
  const received: string[] = [];
  const l = await startServer(sb.netns, HTTP_HOLDER, ALLOWED, 80, (line) => received.push(line), [
    host,
  ]);
  return { ...l, received };
}

describe("the egress proxy's limits", () => {
  it("a sandbox past its connection cap is refused; other sandboxes and later requests work", async () => {
    const flooder = await sandbox(0xd4, { allowInternet: false, allowOut: ["allowed.test"] });
    const other = await sandbox(0xd5, { allowInternet: false, allowOut: ["allowed.test"] });
    const results: string[] = [];
    const flood = await startServer(
      flooder.netns,
      FLOOD,
      ALLOWED,
      80,
      (line) => results.push(line),
      [String(CAP + 3), "allowed.test"],
    );
    try {
      expect(results.slice(0, CAP)).toEqual(Array(CAP).fill("answered"));
      expect(results.slice(CAP)).toHaveLength(3);
      for (const r of results.slice(CAP)) expect(r).toMatch(/^refused/);
      expect(await curl(other, "http://allowed.test/")).toEqual({
        code: 0,
        out: "allowed allowed.test",
      });
    } finally {
      await flood.close();
    }
    await waitFor(() => proxy.openFlows(flooder.guestIp) === 0, 15_000);
    expect(await curl(flooder, "https://allowed.test/")).toEqual({
      code: 0,
      out: "allowed allowed.test",
    });
  });

  it("tearing a sandbox down closes its proxied connections", async () => {
    const events: string[] = [];
    const watch = await startServer(inet.netns, WATCH_SERVER, DNS, 80, (l) => events.push(l));
    const sb = await sandbox(0xd6, { allowInternet: false, allowOut: ["watch.test"] });
    const held = await holdHttp(sb, "watch.test");
    try {
      await waitFor(() => events.includes("open") && held.received.includes("ok"), 15_000);
      await t.manager.teardown(sandboxId(0xd6));
      await waitFor(() => events.includes("closed"), 15_000);
      expect(proxy.openFlows(sb.guestIp)).toBe(0);
    } finally {
      await held.close();
      await watch.close();
    }
  });

  it("the proxy's ports are closed to everything but sandbox interfaces", async () => {
    // From the fake internet (another interface of the host) and from the host itself.
    expect((await probeTcp(inet.netns, inet.hostSide, proxy.ports.http)).outcome).not.toBe(
      "connected",
    );
    expect((await probeTcp(null, "127.0.0.1", proxy.ports.tls)).outcome).not.toBe("connected");
  });
});

/** Opens n connections one after another, each asking once: "answered" or "refused ..." each. */
const FLOOD = `
const [ip, , n, host] = process.argv.slice(1);
const held = [];
const one = () => new Promise((resolve) => {
  const s = require("net").connect({ host: ip, port: 80 });
  held.push(s);
  let said = false;
  const say = (w) => { if (!said) { said = true; process.stdout.write(w + "\\n"); resolve(); } };
  s.on("connect", () => s.write("GET / HTTP/1.1\\r\\nHost: " + host + "\\r\\n\\r\\n"));
  s.on("data", () => say("answered"));
  s.on("error", (e) => say("refused " + (e.code || e.message)));
  s.on("close", () => say("refused close"));
});
(async () => {
  for (let i = 0; i < Number(n); i++) await one();
  process.stdout.write("ready\\n");
})();
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** An HTTP server that says "open" and "closed" for each connection, answering every request. */
const WATCH_SERVER = `
const [host, port] = process.argv.slice(1);
const srv = require("net").createServer((c) => {
  process.stdout.write("open\\n");
  c.on("error", () => {});
  c.on("data", () => c.write("HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n"));
  c.on("close", () => process.stdout.write("closed\\n"));
});
srv.listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;
