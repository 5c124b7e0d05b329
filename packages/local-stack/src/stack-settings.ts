import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { isLockHeld, readLockHolder } from "@wrenn/process-lock";

const run = promisify(execFile);

/**
 * What must differ between two stacks on one machine. The ports may change from one start to
 * the next; the network must not (paused sandboxes keep their addresses), so it is chosen once
 * per data dir and kept in <dataDir>/stack-settings.json.
 */
export interface StackSettings {
  listen: string;
  agentListen: string;
  networkPool: string;
  networkPrefix: string;
  networkTable: string;
  /** UDP ports of workspaces' WireGuard endpoints (WRENN_WG_PORTS); tuns are named by them. */
  wireguardPorts: string;
}

export interface ChosenSettings {
  settings: StackSettings;
  /** One line per value that differs from what the user asked for or the default, and why. */
  changes: string[];
}

const DEFAULT_API_PORT = 3000;
const DEFAULT_AGENT_PORT = 7070;
/**
 * Network slots: slot 0 is the documented default (10.200.0.0/16, "wrenn-", table "wrenn"); a
 * slot n takes 10.(200+n).0.0/16. 24 slots stop below 10.224.0.0/12, which the test suites
 * lease from (tests/harness/slot-lease.ts).
 */
const NETWORK_SLOTS = 24;

type NetworkSettings = Pick<
  StackSettings,
  "networkPool" | "networkPrefix" | "networkTable" | "wireguardPorts"
>;

export function networkOfSlot(n: number): NetworkSettings {
  return n === 0
    ? {
        networkPool: "10.200.0.0/16",
        networkPrefix: "wrenn-",
        networkTable: "wrenn",
        wireguardPorts: wireguardPortsOfSlot(0),
      }
    : {
        networkPool: `10.${200 + n}.0.0/16`,
        networkPrefix: `wrn${n.toString(36)}-`,
        networkTable: `wrenn_${n}`,
        wireguardPorts: wireguardPortsOfSlot(n),
      };
}

/** 80 ports per slot, from the documented default 51820-51899 (slot 0) up. */
function wireguardPortsOfSlot(n: number): string {
  const first = 51820 + n * 100;
  return `${first}-${first + 79}`;
}

/** A kept file from before WireGuard ports were kept: the slot its pool says. */
function slotOfPool(pool: string): number {
  const n = Number(/^10\.(\d+)\.0\.0\/16$/.exec(pool)?.[1]) - 200;
  return Number.isInteger(n) && n >= 0 && n < NETWORK_SLOTS ? n : 0;
}

/** True when nothing listens on host:port (a bind there succeeds). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolveFree(true)));
  });
}

function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(":");
  if (at < 0) return { host: "127.0.0.1", port: Number(listen) };
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(listen.slice(at + 1)) };
}

export async function freeListen(
  wanted: string,
  label: string,
  taken: Set<number>,
  changes: string[],
): Promise<string> {
  const { host, port } = splitListen(wanted);
  for (let p = port; p < port + 100 && p < 65536; p++) {
    if (taken.has(p) || !(await portFree(host, p))) continue;
    taken.add(p);
    if (p !== port) changes.push(`${label} port ${port} is in use: using ${p} instead`);
    return `${host}:${p}`;
  }
  throw new Error(
    `no free port for the ${label} in ${port}-${port + 99} on ${host}; set ${label === "API" ? "WRENN_LISTEN" : "WRENN_AGENT_LISTEN"}`,
  );
}

/** What this machine already uses: live nft tables, interface names and routes. */
export interface LiveNetwork {
  tables: string[];
  links: string[];
  routes: string;
  /** Networks that live host agents registered (pool, prefix, tables), running or not. */
  claims: { pool: string; prefix: string; tables: string[] }[];
}

/** Where host agents register their networks (apps/host-agent/src/network/host-claims.ts). */
const CLAIMS_DIR = "/run/wrenn/agents";

async function liveClaims(): Promise<LiveNetwork["claims"]> {
  const files = await readdir(CLAIMS_DIR).catch(() => [] as string[]);
  const claims: LiveNetwork["claims"] = [];
  for (const name of files.filter((f) => f.endsWith(".claim"))) {
    const path = join(CLAIMS_DIR, name);
    // A dead agent's file is not held: its network is free again.
    if (!(await isLockHeld(path).catch(() => false))) continue;
    const h = readLockHolder(path);
    if (typeof h?.pool === "string" && typeof h.prefix === "string" && Array.isArray(h.tables))
      claims.push({ pool: h.pool, prefix: h.prefix, tables: h.tables.map(String) });
  }
  return claims;
}

async function liveNetwork(): Promise<LiveNetwork> {
  const out = async (cmd: string, args: string[]) =>
    (await run(cmd, args).catch(() => ({ stdout: "" }))).stdout;
  const tables = (await out("nft", ["list", "tables"]))
    .split("\n")
    .map((l) => l.trim().split(/\s+/).pop() ?? "")
    .filter(Boolean);
  const links = (await out("ip", ["-o", "link", "show"]))
    .split("\n")
    .map((l) => (l.split(":")[1] ?? "").trim().split("@")[0] ?? "")
    .filter(Boolean);
  const routes = await out("ip", ["-4", "route", "show", "table", "all"]);
  return { tables, links, routes, claims: await liveClaims() };
}

/** a.b.c.d/n as a number range. */
function range(cidr: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) return undefined;
  const base = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(m[5]));
  const start = base - (base % size);
  return [start, start + size - 1];
}

function overlaps(a: string, b: string): boolean {
  const ra = range(a);
  const rb = range(b);
  return ra !== undefined && rb !== undefined && ra[0] <= rb[1] && rb[0] <= ra[1];
}

function slotInUse(n: number, live: LiveNetwork): boolean {
  const net = networkOfSlot(n);
  const secondOctet = net.networkPool.split(".")[1];
  return (
    live.tables.includes(net.networkTable) ||
    live.links.some((l) => l.startsWith(net.networkPrefix)) ||
    live.routes.split("\n").some((r) => r.startsWith(`10.${secondOctet}.`)) ||
    live.claims.some(
      (c) =>
        overlaps(c.pool, net.networkPool) ||
        c.prefix.startsWith(net.networkPrefix) ||
        net.networkPrefix.startsWith(c.prefix) ||
        c.tables.includes(net.networkTable),
    )
  );
}

const SETTINGS_FILE = "stack-settings.json";

async function keptNetwork(dataDir: string): Promise<NetworkSettings | undefined> {
  try {
    const kept = JSON.parse(await readFile(join(dataDir, SETTINGS_FILE), "utf8"));
    if (
      typeof kept?.networkPool === "string" &&
      typeof kept.networkPrefix === "string" &&
      typeof kept.networkTable === "string"
    )
      return {
        networkPool: kept.networkPool,
        networkPrefix: kept.networkPrefix,
        networkTable: kept.networkTable,
        wireguardPorts:
          typeof kept.wireguardPorts === "string"
            ? kept.wireguardPorts
            : wireguardPortsOfSlot(slotOfPool(kept.networkPool)),
      };
  } catch {}
  return undefined;
}

/**
 * The ports and network for a local stack: what the environment says, else what this data
 * dir used last time, else the defaults, moved to free values when another program (or
 * another stack) holds them. Values set in the environment are never changed.
 */
export async function chooseStackSettings(
  env: NodeJS.ProcessEnv,
  dataDir: string,
  /**
   * The data dir has sandboxes from before settings were kept: they use the default network,
   * and their live interfaces must not push this stack onto another one.
   */
  legacy = false,
  /** Reads the machine's networks (a unit test passes its own). */
  probe: () => Promise<LiveNetwork> = liveNetwork,
): Promise<ChosenSettings> {
  const changes: string[] = [];
  const taken = new Set<number>();
  const listen = env.WRENN_LISTEN
    ? env.WRENN_LISTEN
    : await freeListen(`127.0.0.1:${DEFAULT_API_PORT}`, "API", taken, changes);
  if (env.WRENN_LISTEN) taken.add(splitListen(listen).port);
  const agentListen = env.WRENN_AGENT_LISTEN
    ? env.WRENN_AGENT_LISTEN
    : await freeListen(`127.0.0.1:${DEFAULT_AGENT_PORT}`, "host agent", taken, changes);

  const explicit = env.WRENN_NETWORK_POOL || env.WRENN_NETWORK_PREFIX || env.WRENN_NETWORK_TABLE;
  const kept = await keptNetwork(dataDir);
  let network = kept ?? networkOfSlot(0);
  if (!explicit && !kept && !legacy) {
    const live = await probe();
    let slot = 0;
    while (slot < NETWORK_SLOTS && slotInUse(slot, live)) slot++;
    if (slot === NETWORK_SLOTS)
      throw new Error(
        "every local network slot (10.200-223.0.0/16) is in use by other stacks; set WRENN_NETWORK_POOL, WRENN_NETWORK_PREFIX and WRENN_NETWORK_TABLE",
      );
    network = networkOfSlot(slot);
    if (slot !== 0)
      changes.push(
        `another stack uses the default sandbox network: using pool ${network.networkPool}, interface prefix ${network.networkPrefix} and nft table ${network.networkTable} (kept for this data dir)`,
      );
  }
  const settings: StackSettings = {
    listen,
    agentListen,
    networkPool: env.WRENN_NETWORK_POOL || network.networkPool,
    networkPrefix: env.WRENN_NETWORK_PREFIX || network.networkPrefix,
    networkTable: env.WRENN_NETWORK_TABLE || network.networkTable,
    wireguardPorts: env.WRENN_WG_PORTS || network.wireguardPorts,
  };
  return { settings, changes };
}

/** Remembers the network of this data dir (its sandboxes' addresses come from it). */
export async function keepStackSettings(dataDir: string, settings: StackSettings): Promise<void> {
  const { networkPool, networkPrefix, networkTable, wireguardPorts } = settings;
  await writeFile(
    join(dataDir, SETTINGS_FILE),
    `${JSON.stringify({ networkPool, networkPrefix, networkTable, wireguardPorts }, null, 2)}\n`,
  );
}
