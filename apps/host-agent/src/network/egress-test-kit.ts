import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { EgressProxy, type EgressProxyOptions } from "./egress/egress-proxy.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  type FakeInternet,
  type Listener,
  sandboxId,
  startServer,
  type TestNetwork,
  testNetwork,
} from "./network-test-kit.js";
import { leaseSlot, slotPool } from "./test-slots.js";

// The egress proxy tests' common stand: a proxy and a network manager steering to it,
// sandboxes whose resolv.conf names a chosen server, a certificate for stand-in servers, and
// curl from inside a sandbox. Test support only; the agent never imports it.

const run = promisify(execFile);

export interface ProxiedNetwork {
  readonly proxy: EgressProxy;
  readonly t: TestNetwork;
  /**
   * A sandbox whose resolv.conf (through `ip netns exec`) names `nameserver`: with an address
   * nothing answers, its names resolve only when the agent's DNS forwarder answers them.
   */
  sandbox(
    n: number,
    policy: Parameters<TestNetwork["manager"]["setup"]>[1],
  ): Promise<SandboxNetwork>;
  /** Removes the sandboxes, their resolv.conf, the network manager's state and the proxy. */
  cleanup(): Promise<void>;
}

export async function proxiedNetwork(options: {
  /** testNetwork's tag and pool (leaseStandIn's). */
  tag: string;
  pool: string;
  /** What the sandboxes' resolv.conf names. */
  nameserver: string;
  proxy: Omit<EgressProxyOptions, "logger">;
}): Promise<ProxiedNetwork> {
  const proxy = await EgressProxy.start({
    ...options.proxy,
    logger: pino({ level: process.env.WRENN_TEST_LOG_LEVEL ?? "warn" }),
  });
  const t = await testNetwork(options.tag, options.pool, { egressProxy: proxy });
  const confs: string[] = [];
  return {
    proxy,
    t,
    async sandbox(n, policy) {
      const sb = await t.manager.setup(sandboxId(n), policy);
      const conf = `/etc/netns/${sb.netns}`;
      await mkdir(conf, { recursive: true });
      await writeFile(
        join(conf, "resolv.conf"),
        `nameserver ${options.nameserver}\noptions timeout:2\n`,
      );
      confs.push(conf);
      return sb;
    },
    async cleanup() {
      await t.cleanup();
      await proxy.close();
      for (const conf of confs) await rm(conf, { recursive: true, force: true });
    },
  };
}

/**
 * A self-signed certificate for `names` (host names or IP addresses; the first is its CN):
 * dir/cert.pem and dir/key.pem.
 */
export async function testCertificate(dir: string, names: readonly string[]) {
  const tls = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  await run("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${names[0]}`],
    ...["-addext", `subjectAltName=${san}`],
    ...["-keyout", tls.key, "-out", tls.cert],
  ]);
  return tls;
}

/** curl from inside a sandbox (-sS, bounded): its exit code and what it printed. */
export async function curlIn(
  sb: SandboxNetwork,
  ...args: string[]
): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run("ip", [
      ...["netns", "exec", sb.netns, "curl", "-sS", "--max-time", "20", ...args],
    ]);
    return { code: 0, out: stdout.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() };
  }
}

/**
 * Names and addresses for one run of a stand-in internet test file, unique on this machine: a
 * test slot (the lease the e2e stacks take), so two checkouts' runs at once never share a
 * namespace, interface, nft table, address pool or stand-in subnet. Released by closeStandIn.
 */
export function leaseStandIn(tag: string) {
  const lease = leaseSlot();
  // Stand-in subnets 128-255: above the fixed ones other tests still use (7 to 94).
  if (lease.slot >= 128) {
    lease.release();
    throw new Error(`test slot ${lease.slot}: only 128 stand-in subnets; too many test runs alive`);
  }
  const hex = lease.slot.toString(16).padStart(2, "0");
  const pool = slotPool(lease.slot);
  const base = pool.split("/")[0]!.split(".").map(Number);
  return {
    /** testNetwork's tag: interface prefix wt<tag>-, table wrenn_test_<tag>. */
    tag: `${tag}${hex}`,
    pool,
    /** An address of the pool, `offset` from its start. */
    inPool: (offset: number) => `${base[0]}.${base[1]}.${base[2]}.${base[3]! + offset}`,
    /** createFakeInternet's name and subnet. */
    inetName: `wx${tag}${hex}`,
    subnet: 128 + lease.slot,
    release: lease.release,
  };
}

/**
 * The addresses of createFakeInternet(name, subnet): its name server (on its link), its two
 * server addresses behind it, and one on its link where nothing answers.
 */
export function standInAddresses(subnet: number) {
  return {
    dns: `198.18.${subnet}.2`,
    first: `198.19.${subnet}.5`,
    second: `198.19.${subnet}.6`,
    nowhere: `198.18.${subnet}.99`,
  };
}

/** A stand-in internet test's teardown: sandboxes and proxy, servers, the fake internet, files. */
export async function closeStandIn(parts: {
  net?: ProxiedNetwork;
  servers: readonly Listener[];
  inet?: FakeInternet;
  dir?: string;
  /** leaseStandIn's: the slot is let go last, once nothing of the run is left. */
  release?: () => void;
}): Promise<void> {
  await parts.net?.cleanup();
  for (const s of parts.servers) await s.close();
  await parts.inet?.remove();
  if (parts.dir) await rm(parts.dir, { recursive: true, force: true });
  parts.release?.();
}

/** HTTP on 80 and HTTPS on 443 of one address, answering with the Host and X-Api-Key it saw. */
const HEADER_ECHO_SCRIPT = `
const [addr, , cert, key] = process.argv.slice(1);
const fs = require("fs");
const answer = (q, r) => r.end("seen " + q.headers.host + " key=" + (q.headers["x-api-key"] ?? "-") + "\\n");
const servers = [
  require("http").createServer(answer).listen(80, addr),
  require("https").createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, answer).listen(443, addr),
];
let up = 0;
for (const s of servers) s.on("listening", () => { if (++up === servers.length) process.stdout.write("ready\\n"); });
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * A server for header rules' tests on `address` in `netns` (ports 80 and 443, `tls` its
 * certificate): each answer is "seen <Host> key=<X-Api-Key or ->".
 */
export function headerEchoServerIn(
  netns: string,
  address: string,
  tls: { cert: string; key: string },
): Promise<Listener> {
  return startServer(netns, HEADER_ECHO_SCRIPT, address, 80, undefined, [tls.cert, tls.key]);
}
