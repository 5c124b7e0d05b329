import { readFileSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HOST_HEARTBEAT } from "@wrenn/contract";
import { readTlsPair } from "@wrenn/http-relay";
import { formatCidr, parseCidr } from "../network/ipv4.js";
import type { Resources } from "../sandboxes/record.js";
import type { LayerRetention } from "../templates/layer-store.js";
import { type PortRange, parsePortRange } from "../workspaces/wg-ports.js";
import { installLayout } from "./install-layout.js";

export interface AgentConfig {
  /** Where the agent keeps sandboxes, checkpoints and its state. */
  dataDir: string;
  /** Built templates; several agents on one machine may share them. */
  templatesDir: string;
  imagesDir: string;
  envdDistDir: string;
  /** "127.0.0.1:7070" or "unix:/path". */
  listen: string;
  token?: string;
  /** WRENN_AGENT_TLS_CERT / WRENN_AGENT_TLS_KEY, read at start: the listener speaks TLS. */
  tls?: { cert: string; key: string };
  /** May read /metrics and nothing else (WRENN_AGENT_METRICS_TOKEN); the agent token may too. */
  metricsToken?: string;
  poolSize: number;
  /** WRENN_POOL_IDLE_SECONDS: see ManagerConfig.poolIdleSeconds. */
  poolIdleSeconds: number;
  /** WRENN_POOL_MAX: see ManagerConfig.poolMax. */
  poolMax: number;
  /** WRENN_POOL_REFILL_BOOTS: see ManagerConfig.poolRefillBoots. */
  poolRefillBoots: number;
  /** WRENN_BOOT_SLOTS: see ManagerConfig.bootSlots. */
  bootSlots: number;
  templateRestore: boolean;
  defaults: Resources;
  memoryOverheadMb: number;
  pidsLimit: number;
  /** The runsc binary (WRENN_RUNSC): a path, or a name found on PATH. */
  runsc: string;
  /** WRENN_RUNSC_PLATFORM: "ptrace" forces it; "auto" (default) is systrap when it runs. */
  runscPlatform: "auto" | "ptrace";
  /** How long a booting or restoring sandbox may take to answer /health before it failed. */
  bootTimeoutMs: number;
  /** IPv4 range the sandboxes' /30 networks are carved from. */
  networkPool: string;
  /** Start of every netns and interface name of this agent (at most 7 characters). */
  networkPrefix: string;
  /** This agent's nftables table (family inet). */
  networkTable: string;
  /** UDP ports of workspaces' WireGuard endpoints (WRENN_WG_PORTS, default 51820-51899). */
  wireguardPorts: PortRange;
  /**
   * Ranges an admin opened for sandboxes with internet access inside the always-denied
   * networks (private, CGNAT, link-local...); WRENN_EGRESS_ALLOW_CIDRS. None by default.
   */
  egressAllowCidrs: string[];
  /** Name servers written into sandboxes allowed on the internet (none: no DNS for them). */
  sandboxDns: string[];
  /**
   * Where the egress proxy resolves allowOut's host names (WRENN_EGRESS_DNS; default the
   * host's name servers, its loopback resolver included: the proxy asks from the host).
   */
  egressDns: string[];
  /**
   * Where the egress proxy forwards the DNS of sandboxes with such rules (WRENN_EGRESS_DNS;
   * default the host's upstream name servers, never a loopback resolver, which would answer a
   * sandbox from the host's /etc/hosts and internal zones: the rule of sandboxDns).
   */
  egressForwardDns: string[];
  /**
   * A PEM file of CAs the egress proxy also trusts, beside the system's, when it verifies the
   * real servers of names with header rules (WRENN_EGRESS_UPSTREAM_CA): an internal CA.
   */
  egressUpstreamCa?: string;
  /** Host directories under which sandboxes may mount (WRENN_MOUNT_ROOTS); none by default. */
  mountRoots: string[];
  /**
   * Registries template builds may reach over plain HTTP besides loopback ones, as Docker's
   * insecure registries (WRENN_INSECURE_REGISTRIES, "host:port" comma-separated); none by default.
   */
  insecureRegistries: string[];
  /**
   * Cached build layers no template names any more (a failed build's) are kept this long
   * since their last use (WRENN_LAYER_CACHE_GRACE_S, default a day; 0 keeps none) and while
   * they fit in WRENN_LAYER_CACHE_MAX_MB (default 10240), least recently used removed first.
   */
  layerRetention: LayerRetention;
  logLevel: string;
  /**
   * Joining a control plane (docs/hosts.md): WRENN_CONTROL_PLANE_URL with a one-time
   * WRENN_REGISTRATION_TOKEN. Unset: the agent waits to be called, as a configured host.
   */
  registration?: {
    controlPlaneUrl: string;
    token: string;
    /**
     * PEM certificates (the file WRENN_CONTROL_PLANE_CA names) trusted for an https control
     * plane, beside the system's: its own CA, or its self-signed certificate.
     */
    controlPlaneCa?: string;
    /** Where the control plane reaches this agent (WRENN_AGENT_ADVERTISE_URL). */
    advertiseUrl: string;
    heartbeatIntervalMs: number;
    /** Seconds without an accepted heartbeat before the sandboxes are paused. */
    controlPlaneGraceSeconds: number;
  };
}

function int(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(
      `${name} must be a whole number between ${min} and ${max} (got ${JSON.stringify(raw)})`,
    );
  }
  return n;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * WRENN_SANDBOX_DNS (comma-separated IPv4), else the host's own upstream name servers: a
 * loopback resolver (systemd-resolved's 127.0.0.53) is unreachable from a sandbox, so its
 * upstream list is used instead when there is one. For the egress proxy's own resolver
 * (`loopback`: it asks from the host itself) the host's own resolver, loopback included, is fine.
 */
function nameServers(
  variable: string,
  configured: string | undefined,
  read: (file: string) => string,
  loopback = false,
): string[] {
  if (configured !== undefined) {
    const list = configured
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const ip of list) {
      if (!IPV4.test(ip))
        throw new Error(`${variable}: ${JSON.stringify(ip)} is not an IPv4 address`);
    }
    return list;
  }
  for (const file of ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"]) {
    let text = "";
    try {
      text = read(file);
    } catch {
      continue;
    }
    const servers = [...text.matchAll(/^nameserver\s+(\S+)/gm)]
      .map((m) => m[1] ?? "")
      .filter((ip) => IPV4.test(ip) && (loopback || !ip.startsWith("127.")));
    if (servers.length > 0) return servers;
  }
  return [];
}

/** Comma-separated IPv4 CIDRs, each checked (a typo must not open or close the wrong range). */
function cidrList(name: string, raw: string | undefined): string[] {
  const list = (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return list.map((cidr) => {
    try {
      return formatCidr(parseCidr(cidr));
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  });
}

/** Absolute, resolved directories; a root that does not exist is a configuration error. */
function mountRoots(raw: string | undefined): string[] {
  const list = (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return list.map((root) => {
    if (!path.isAbsolute(root))
      throw new Error(`WRENN_MOUNT_ROOTS: ${root} is not an absolute path`);
    try {
      return realpathSync(root);
    } catch {
      throw new Error(`WRENN_MOUNT_ROOTS: ${root} does not exist`);
    }
  });
}

/**
 * The default bound on warm sandboxes (WRENN_POOL_MAX): a twentieth of the host's memory at
 * ~100 MiB each (an idle sandbox's host memory, bench/agent-density), so 12 on a 24 GiB host.
 */
function defaultPoolMax(): number {
  return Math.min(64, Math.floor(os.totalmem() / 20 / (100 * 1024 ** 2)));
}

function runscPlatform(raw: string | undefined): "auto" | "ptrace" {
  if (raw === undefined || raw === "" || raw === "auto") return "auto";
  if (raw === "ptrace") return "ptrace";
  throw new Error(`WRENN_RUNSC_PLATFORM must be auto or ptrace (got ${JSON.stringify(raw)})`);
}

/**
 * Reads the agent's configuration from the environment (documented in the README);
 * `readResolvConf` reads the host's resolv.conf files (tests give their own).
 */
export function agentConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  readResolvConf: (file: string) => string = (file) => readFileSync(file, "utf8"),
): AgentConfig {
  const base = env.WRENN_DATA_DIR ?? path.join(installLayout.repoRoot, ".wrenn");
  return {
    dataDir: path.resolve(env.WRENN_AGENT_DATA_DIR ?? path.join(base, "agent")),
    templatesDir: path.resolve(env.WRENN_TEMPLATES_DIR ?? path.join(base, "templates")),
    imagesDir: installLayout.imagesDir,
    envdDistDir: installLayout.envdDistDir,
    insecureRegistries: (env.WRENN_INSECURE_REGISTRIES ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    layerRetention: {
      graceMs: int(env, "WRENN_LAYER_CACHE_GRACE_S", 86400, 0, 365 * 86400) * 1000,
      maxBytes: int(env, "WRENN_LAYER_CACHE_MAX_MB", 10240, 0, 1 << 30) * 1024 ** 2,
    },
    listen: env.WRENN_AGENT_LISTEN ?? "127.0.0.1:7070",
    token: env.WRENN_AGENT_TOKEN || undefined,
    tls: listenerTls(env),
    metricsToken: env.WRENN_AGENT_METRICS_TOKEN || undefined,
    poolSize: int(env, "WRENN_POOL_SIZE", 2, 0, 64),
    poolIdleSeconds: int(env, "WRENN_POOL_IDLE_SECONDS", 600, 0, 30 * 86400),
    poolMax: int(env, "WRENN_POOL_MAX", defaultPoolMax(), 0, 1024),
    poolRefillBoots: int(env, "WRENN_POOL_REFILL_BOOTS", 2, 1, 8),
    bootSlots: int(env, "WRENN_BOOT_SLOTS", Math.max(2, os.availableParallelism()), 1, 256),
    templateRestore: env.WRENN_TEMPLATE_RESTORE !== "0",
    defaults: {
      vcpus: int(env, "WRENN_DEFAULT_VCPUS", 1, 1, 64),
      memoryMb: int(env, "WRENN_DEFAULT_MEMORY_MB", 512, 128, 262144),
      diskMb: int(env, "WRENN_DEFAULT_DISK_MB", 2048, 256, 1048576),
    },
    memoryOverheadMb: int(env, "WRENN_MEMORY_OVERHEAD_MB", 128, 0, 4096),
    pidsLimit: int(env, "WRENN_PIDS_LIMIT", 8192, 256, 1 << 22),
    runsc: env.WRENN_RUNSC || "runsc",
    runscPlatform: runscPlatform(env.WRENN_RUNSC_PLATFORM),
    // A cold boot takes ~1 s on an idle host, but tens of seconds on a saturated one; failing
    // the create then helps nobody.
    bootTimeoutMs: int(env, "WRENN_BOOT_TIMEOUT_S", 120, 5, 3600) * 1000,
    networkPool: env.WRENN_NETWORK_POOL ?? "10.200.0.0/16",
    networkPrefix: env.WRENN_NETWORK_PREFIX ?? "wrenn-",
    networkTable: env.WRENN_NETWORK_TABLE ?? "wrenn",
    wireguardPorts: parsePortRange("WRENN_WG_PORTS", env.WRENN_WG_PORTS || "51820-51899"),
    egressAllowCidrs: cidrList("WRENN_EGRESS_ALLOW_CIDRS", env.WRENN_EGRESS_ALLOW_CIDRS),
    sandboxDns: nameServers("WRENN_SANDBOX_DNS", env.WRENN_SANDBOX_DNS, readResolvConf),
    egressDns: nameServers("WRENN_EGRESS_DNS", env.WRENN_EGRESS_DNS, readResolvConf, true),
    egressForwardDns: nameServers("WRENN_EGRESS_DNS", env.WRENN_EGRESS_DNS, readResolvConf),
    ...(env.WRENN_EGRESS_UPSTREAM_CA ? { egressUpstreamCa: env.WRENN_EGRESS_UPSTREAM_CA } : {}),
    mountRoots: mountRoots(env.WRENN_MOUNT_ROOTS),
    logLevel: env.WRENN_LOG_LEVEL ?? "info",
    registration: registration(env),
  };
}

function httpUrl(name: string, raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http(s) URL (got ${JSON.stringify(raw)})`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`${name} must be an http(s) URL (got ${JSON.stringify(raw)})`);
  }
  return parsed.toString().replace(/\/$/, "");
}

/**
 * Both or neither; each must read, and the pair must make a TLS context, so a wrong file stops
 * the start with its name rather than the first handshake.
 */
function listenerTls(env: NodeJS.ProcessEnv): AgentConfig["tls"] {
  return readTlsPair(
    { cert: "WRENN_AGENT_TLS_CERT", key: "WRENN_AGENT_TLS_KEY" },
    { cert: env.WRENN_AGENT_TLS_CERT || undefined, key: env.WRENN_AGENT_TLS_KEY || undefined },
  );
}

const LOOPBACK_HOSTS = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/i;

/**
 * Registration, heartbeats and refreshes carry the host's token, JWT and refresh token: in the
 * clear beyond this machine anyone on the path could take the host over. There is no opt-out:
 * an https control plane with a private CA (WRENN_CONTROL_PLANE_CA) costs one file.
 */
export function requireTlsBeyondLoopback(controlPlaneUrl: string): string {
  const u = new URL(controlPlaneUrl);
  if (u.protocol === "https:" || LOOPBACK_HOSTS.test(u.hostname)) return controlPlaneUrl;
  throw new Error(
    `WRENN_CONTROL_PLANE_URL ${controlPlaneUrl} is plain http to another machine: the host's credentials would cross the network in the clear. Serve the control plane over https (WRENN_TLS_CERT and WRENN_TLS_KEY on it), set WRENN_CONTROL_PLANE_URL=https://${u.host}, and, for a private or self-signed certificate, WRENN_CONTROL_PLANE_CA=<its CA's PEM file> here (docs/hosts.md)`,
  );
}

/** A PEM file of certificates, read at start so a wrong path stops the start with its name. */
function pemCertificates(name: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(
      `${name}: cannot read ${file}: ${(err as Error).message}; fix the path or unset it`,
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`${name}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return text;
}

/** Both or neither: a token without a control plane (or the reverse) is a mistake. */
function registration(env: NodeJS.ProcessEnv): AgentConfig["registration"] {
  const url = env.WRENN_CONTROL_PLANE_URL || "";
  const token = env.WRENN_REGISTRATION_TOKEN || "";
  if (!url && !token) return undefined;
  if (!url) throw new Error("WRENN_REGISTRATION_TOKEN is set but WRENN_CONTROL_PLANE_URL is not");
  const listen = env.WRENN_AGENT_LISTEN ?? "127.0.0.1:7070";
  const advertise = env.WRENN_AGENT_ADVERTISE_URL || "";
  if (!advertise && listen.startsWith("unix:")) {
    throw new Error(
      "an agent listening on a unix socket needs WRENN_AGENT_ADVERTISE_URL to register",
    );
  }
  const controlPlaneUrl = httpUrl("WRENN_CONTROL_PLANE_URL", url);
  const ca = env.WRENN_CONTROL_PLANE_CA || "";
  return {
    controlPlaneUrl: requireTlsBeyondLoopback(controlPlaneUrl),
    ...(ca ? { controlPlaneCa: pemCertificates("WRENN_CONTROL_PLANE_CA", ca) } : {}),
    // Empty once registered: the stored credentials are used and the token is not needed.
    token,
    advertiseUrl: httpUrl(
      "WRENN_AGENT_ADVERTISE_URL",
      advertise || `${env.WRENN_AGENT_TLS_CERT ? "https" : "http"}://${listen}`,
    ),
    heartbeatIntervalMs: int(env, "WRENN_HEARTBEAT_INTERVAL_MS", 5000, 100, 60_000),
    controlPlaneGraceSeconds: int(
      env,
      "WRENN_CONTROL_PLANE_GRACE_S",
      HOST_HEARTBEAT.agentGraceSeconds,
      1,
      30 * 24 * 3600,
    ),
  };
}
