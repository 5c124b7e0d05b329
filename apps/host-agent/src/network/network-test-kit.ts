import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { runCommand } from "../command/run-command.js";
import { BACKSTOP_TABLE } from "./backstop.js";
import { NetworkManager, type NetworkManagerOptions } from "./network-manager.js";

/**
 * Test support, not used by the agent: TCP reachability seen from inside a network namespace
 * (with the node binary that runs the tests: no nc/socat assumed), per-file managers that
 * never collide with each other or with a real agent, and a fake "internet" namespace.
 */

export type ProbeResult =
  | { outcome: "connected"; greeting: string }
  | { outcome: "refused" | "timeout" | "error"; detail: string };

const CLIENT = `
const [host, port, ms, localAddress] = process.argv.slice(1);
const s = require("net").connect({ host, port: Number(port), localAddress: localAddress || undefined });
let data = "";
const done = (r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); };
const t = setTimeout(() => done({ outcome: "timeout", detail: "no answer in " + ms + " ms" }), Number(ms));
s.on("data", (d) => { data += d; });
s.on("end", () => { clearTimeout(t); done({ outcome: "connected", greeting: data.trim() }); });
s.on("error", (e) => {
  clearTimeout(t);
  done({ outcome: e.code === "ECONNREFUSED" ? "refused" : "error", detail: e.code || e.message });
});
`;

/** A server that greets each client with the address it sees the client coming from. */
const SERVER = `
const [host, port] = process.argv.slice(1);
const srv = require("net").createServer((c) => c.end(c.remoteAddress + "\\n"));
srv.listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

function inNetns(netns: string | null, argv: string[]): [string, string[]] {
  return netns === null ? [argv[0]!, argv.slice(1)] : ["ip", ["netns", "exec", netns, ...argv]];
}

export async function probeTcp(
  netns: string | null,
  host: string,
  port: number,
  options: { timeoutMs?: number; localAddress?: string } = {},
): Promise<ProbeResult> {
  const argv = [process.execPath, "-e", CLIENT, host, String(port)];
  argv.push(String(options.timeoutMs ?? 1500), options.localAddress ?? "");
  const [file, args] = inNetns(netns, argv);
  const stdout = await runCommand(file, args);
  return JSON.parse(stdout) as ProbeResult;
}

const UDP_SEND = `
const [localAddress, localPort, host, port, msg] = process.argv.slice(1);
const s = require("dgram").createSocket("udp4");
s.bind(Number(localPort), localAddress, () =>
  s.send(msg, Number(port), host, (err) => { if (err) throw err; s.close(); }));
`;

/** One datagram from a chosen source address and port, sent from inside `netns`. */
export async function sendUdp(
  netns: string,
  localAddress: string,
  localPort: number,
  host: string,
  port: number,
  message: string,
): Promise<void> {
  await runCommand("ip", [
    "netns",
    "exec",
    netns,
    process.execPath,
    "-e",
    UDP_SEND,
    localAddress,
    String(localPort),
    host,
    String(port),
    message,
  ]);
}

export interface Listener {
  close(): Promise<void>;
}

/** Prints every datagram it receives, one per line. */
const UDP_SERVER = `
const [host, port] = process.argv.slice(1);
const s = require("dgram").createSocket("udp4");
s.on("message", (m) => process.stdout.write(m + "\\n"));
s.bind(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** Listens inside `netns` (null: on the host); closing stdin ends it, even if the test dies. */
export async function listenIn(
  netns: string | null,
  host: string,
  port: number,
): Promise<Listener> {
  return startServer(netns, SERVER, host, port);
}

export interface UdpListener extends Listener {
  /** Lines received so far (the "ready" line excluded). */
  readonly received: string[];
}

export async function udpListenIn(netns: string, host: string, port: number): Promise<UdpListener> {
  const received: string[] = [];
  const l = await startServer(netns, UDP_SERVER, host, port, (line) => received.push(line));
  return { ...l, received };
}

/**
 * Runs a node script (argv: host, port, ...more) in `netns` until closed; it prints "ready"
 * once up, and every other line it prints goes to `onLine`.
 */
export async function startServer(
  netns: string | null,
  script: string,
  host: string,
  port: number,
  onLine?: (line: string) => void,
  more: string[] = [],
): Promise<Listener & { send(line: string): void }> {
  const argv = [process.execPath, "-e", script, host, String(port), ...more];
  const [file, args] = inNetns(netns, argv);
  const child: ChildProcess = spawn(file, args, { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") resolve();
        else onLine?.(line);
      }
    });
    child.on("exit", (code) =>
      reject(new Error(`listener in ${netns ?? "host"} exited (${code})`)),
    );
  });
  return {
    send(line: string) {
      child.stdin!.write(`${line}\n`);
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.stdin!.end();
      await exited;
    },
  };
}

const ECHO_SERVER = `
const [host, port] = process.argv.slice(1);
const srv = require("net").createServer((c) => { c.on("error", () => {}); c.pipe(c); });
srv.listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** Echoes whatever each client sends, until closed. */
export async function echoServerIn(netns: string, host: string, port: number): Promise<Listener> {
  return startServer(netns, ECHO_SERVER, host, port);
}

/**
 * One TCP connection that stays open: a ping every 100 ms, a line "echo" for each answer and
 * a final "closed <code>" when the connection ends or fails (printed, then the client exits).
 */
const HOLDER = `
const [host, port] = process.argv.slice(1);
const s = require("net").connect({ host, port: Number(port) });
let timer;
s.on("connect", () => {
  process.stdout.write("ready\\n");
  timer = setInterval(() => s.write("ping"), 100);
});
s.on("data", () => process.stdout.write("echo\\n"));
const end = (code) => { clearInterval(timer); process.stdout.write("closed " + code + "\\n"); process.exit(0); };
s.on("error", (e) => end(e.code || e.message));
s.on("close", () => end("close"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** A connection opened from `netns`; `events` collects its "echo" and "closed ..." lines. */
export async function holdConnection(
  netns: string,
  host: string,
  port: number,
): Promise<UdpListener> {
  const received: string[] = [];
  const l = await startServer(netns, HOLDER, host, port, (line) => received.push(line));
  return { ...l, received };
}

/** An address of the host outside any sandbox pool (its primary interface's). */
export function otherHostAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith("wt")) continue;
    const v4 = addrs?.find((x) => x.family === "IPv4" && !x.internal);
    if (v4) return v4.address;
  }
  throw new Error("no non-loopback IPv4 address on this host");
}

/** Generous by default: the processes it waits on start slowly on a loaded 2-core host. */
export async function waitFor(cond: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

export async function sh(file: string, ...args: string[]): Promise<string> {
  return await runCommand(file, args);
}

export interface TestNetwork {
  readonly manager: NetworkManager;
  readonly options: Required<
    Pick<NetworkManagerOptions, "pool" | "namePrefix" | "table" | "stateDir">
  >;
  /** Removes everything the manager made (also what a crashed earlier run left). */
  cleanup(): Promise<void>;
}

/**
 * Each test file gets its own prefix, pool and table (`tag` is 1-2 letters), so files running
 * in parallel, and a real agent on the same machine, never see each other's sandboxes.
 */
export async function testNetwork(
  tag: string,
  /** A second octet (the pool 10.<n>.0.0/24) or a whole pool (a leased slot's). */
  pool: number | string,
  extra: NetworkManagerOptions = {},
): Promise<TestNetwork> {
  const stateDir = await mkdtemp(join(tmpdir(), `wrenn-net-${tag}-`));
  const options = {
    pool: typeof pool === "number" ? `10.${pool}.0.0/24` : pool,
    namePrefix: `wt${tag}-`,
    table: `wrenn_test_${tag}`,
    stateDir,
  };
  const logger = pino({ level: process.env.WRENN_TEST_LOG_LEVEL ?? "warn" });
  const manager = new NetworkManager({ ...options, logger, ...extra });
  // A crashed earlier run used another state dir: reconcile finds its leftovers by name.
  await manager.removeAll();
  return {
    manager,
    options,
    async cleanup() {
      await manager.removeAll();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export function newManager(t: TestNetwork, extra: NetworkManagerOptions = {}): NetworkManager {
  return new NetworkManager({ ...t.options, logger: pino({ level: "warn" }), ...extra });
}

export function sandboxId(n: number): string {
  return `sb-${n.toString(16).padStart(8, "0")}`;
}

/**
 * A stand-in for the internet that never leaves the machine: a namespace behind a veth from
 * the host, holding addresses in 198.18.0.0/15 (reserved for benchmarking), routed from the
 * host. It has no route back to the sandbox pool, so only masqueraded traffic gets answers.
 */
export interface FakeInternet {
  readonly netns: string;
  /** The host's address on the link: what masqueraded sandbox traffic comes from. */
  readonly hostSide: string;
  readonly addresses: readonly string[];
  remove(): Promise<void>;
}

export async function createFakeInternet(name: string, subnet?: number): Promise<FakeInternet> {
  const netns = `${name}-inet`;
  const hostIf = `${name}-inet`;
  const remove = async () => {
    await runCommand("ip", ["link", "del", hostIf]).catch(() => {});
    await runCommand("ip", ["netns", "del", netns]).catch(() => {});
  };
  await remove();
  // `subnet`: a link of its own, 198.18.<subnet>.0/30, and /32 routes for its other addresses
  // (198.19.<subnet>.5 and .6), so it can live beside the default one (198.18.0.0/15).
  const n = subnet ?? 0;
  const [hostSide, inner] = [`198.18.${n}.1`, `198.18.${n}.2`];
  const extra =
    subnet === undefined ? ["198.18.5.5", "198.19.7.7"] : [`198.19.${n}.5`, `198.19.${n}.6`];
  const routes =
    subnet === undefined
      ? [`route replace 198.18.0.0/15 via ${inner} dev ${hostIf}`]
      : extra.map((a) => `route replace ${a}/32 via ${inner} dev ${hostIf}`);
  const root = [
    `netns add ${netns}`,
    `link add ${hostIf} type veth peer name eth0 netns ${netns}`,
    `addr add ${hostSide}/30 dev ${hostIf}`,
    `link set ${hostIf} up`,
    ...routes,
  ];
  await runCommand("ip", ["-batch", "-"], { input: `${root.join("\n")}\n` });
  const inside = [
    `addr add ${inner}/30 dev eth0`,
    ...extra.map((a) => `addr add ${a}/32 dev lo`),
    "link set eth0 up",
    "link set lo up",
  ];
  await runCommand("ip", ["-n", netns, "-batch", "-"], { input: `${inside.join("\n")}\n` });
  return { netns, hostSide, addresses: [inner, ...extra], remove };
}

/**
 * A name server for a fake internet: A questions for the names in `records` (a key `*.x`
 * answers every name below x) get that address, every other name NXDOMAIN. One socket on
 * `address`, so replies leave from the address that was asked.
 */
const DNS_SERVER = `
const [addr, , json] = process.argv.slice(1);
const records = JSON.parse(json);
const lookup = (name) => {
  if (records[name]) return records[name];
  for (let i = name.indexOf("."); i >= 0; i = name.indexOf(".", i + 1)) {
    const w = records["*" + name.slice(i)];
    if (w) return w;
  }
};
const s = require("dgram").createSocket("udp4");
s.on("message", (q, from) => {
  if (q.length < 17) return;
  const labels = [];
  let i = 12;
  while (i < q.length && q[i] !== 0) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += q[i] + 1; }
  const qtype = q.readUInt16BE(i + 1);
  const ip = lookup(labels.join(".").toLowerCase());
  const header = Buffer.from(q.subarray(0, 12));
  header.writeUInt16BE(ip ? 0x8180 : 0x8183, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ip && qtype === 1 ? 1 : 0, 6);
  header.writeUInt32BE(0, 8);
  const answer = ip && qtype === 1
    ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, ...ip.split(".").map(Number)])
    : Buffer.alloc(0);
  s.send(Buffer.concat([header, q.subarray(12, i + 5), answer]), from.port, from.address);
});
s.bind(53, addr, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

export async function dnsServerIn(
  netns: string,
  address: string,
  records: Record<string, string>,
): Promise<Listener> {
  return startServer(netns, DNS_SERVER, address, 53, undefined, [JSON.stringify(records)]);
}

/**
 * A web server on ports 80 (HTTP) and 443 (HTTPS with the given certificate) of `address`,
 * answering every request with "<label> <Host header>", connections kept open between requests.
 */
const WEB_SERVER = `
const [addr, , label, cert, key] = process.argv.slice(1);
const fs = require("fs");
const answer = (q, r) => r.end(label + " " + q.headers.host + "\\n");
const servers = [
  require("http").createServer(answer).listen(80, addr),
  require("https").createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, answer).listen(443, addr),
];
let up = 0;
for (const s of servers) {
  s.keepAliveTimeout = 0;
  s.on("listening", () => { if (++up === servers.length) process.stdout.write("ready\\n"); });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

export async function webServerIn(
  netns: string,
  address: string,
  label: string,
  tls: { cert: string; key: string },
): Promise<Listener> {
  return startServer(netns, WEB_SERVER, address, 80, undefined, [label, tls.cert, tls.key]);
}

/**
 * Removes the backstop from sandbox namespaces (idempotent), for tests of the root tables'
 * own rules and for controls; `manager.reconcile` (the agent's start) writes it back.
 */
export async function removeBackstop(...netns: string[]): Promise<void> {
  const t = `netdev ${BACKSTOP_TABLE}`;
  await Promise.all(
    netns.map((n) =>
      runCommand("ip", ["netns", "exec", n, "nft", "-f", "-"], {
        input: `add table ${t}\ndelete table ${t}\n`,
      }),
    ),
  );
}

export async function hasBackstop(netns: string): Promise<boolean> {
  const out = await sh("ip", "netns", "exec", netns, "nft", "list", "tables");
  return out.includes(`netdev ${BACKSTOP_TABLE}\n`);
}
