import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { runCommand } from "./command.js";
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
  const { stdout } = await runCommand(file, args);
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

async function startServer(
  netns: string | null,
  script: string,
  host: string,
  port: number,
  onLine?: (line: string) => void,
): Promise<Listener> {
  const [file, args] = inNetns(netns, [process.execPath, "-e", script, host, String(port)]);
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

export async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
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
  return (await runCommand(file, args)).stdout;
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
export async function testNetwork(tag: string, poolOctet: number): Promise<TestNetwork> {
  const stateDir = await mkdtemp(join(tmpdir(), `wrenn-net-${tag}-`));
  const options = {
    pool: `10.${poolOctet}.0.0/24`,
    namePrefix: `wt${tag}-`,
    table: `wrenn_test_${tag}`,
    stateDir,
  };
  const logger = pino({ level: process.env.WRENN_TEST_LOG_LEVEL ?? "warn" });
  const manager = new NetworkManager({ ...options, logger });
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

export async function createFakeInternet(name: string): Promise<FakeInternet> {
  const netns = `${name}-inet`;
  const hostIf = `${name}-inet`;
  const remove = async () => {
    await runCommand("ip", ["link", "del", hostIf]).catch(() => {});
    await runCommand("ip", ["netns", "del", netns]).catch(() => {});
  };
  await remove();
  const root = [
    `netns add ${netns}`,
    `link add ${hostIf} type veth peer name eth0 netns ${netns}`,
    `addr add 198.18.0.1/30 dev ${hostIf}`,
    `link set ${hostIf} up`,
    `route replace 198.18.0.0/15 via 198.18.0.2 dev ${hostIf}`,
  ];
  await runCommand("ip", ["-batch", "-"], `${root.join("\n")}\n`);
  const inside = [
    "addr add 198.18.0.2/30 dev eth0",
    "addr add 198.18.5.5/32 dev lo",
    "addr add 198.19.7.7/32 dev lo",
    "link set eth0 up",
    "link set lo up",
  ];
  await runCommand("ip", ["-n", netns, "-batch", "-"], `${inside.join("\n")}\n`);
  return {
    netns,
    hostSide: "198.18.0.1",
    addresses: ["198.18.0.2", "198.18.5.5", "198.19.7.7"],
    remove,
  };
}
