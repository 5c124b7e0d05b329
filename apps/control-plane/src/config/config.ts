import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { SCHEDULER_POLICIES, type SchedulerPolicy } from "@wrenn/contract";
import { readTlsPair } from "@wrenn/http-relay";
import type { HostTokenLifetimes } from "../hosts/host-enrollment.js";
import {
  DEFAULT_FAILED_CREATE_VISIBLE_SECONDS,
  type OperationDeadlines,
} from "../service/sandbox-service.js";
import { DEFAULT_TEMPLATE_BUILD_LIMITS } from "../service/template-service.js";

export interface ControlPlaneConfig {
  /** Address to listen on; port 0 picks a free one. */
  host: string;
  port: number;
  /**
   * The listener speaks TLS with this certificate and key (the files WRENN_TLS_CERT and
   * WRENN_TLS_KEY name): what agents beyond loopback need (they refuse a plain http control plane).
   */
  tls?: { cert: string; key: string };
  /**
   * An optional second address (WRENN_GRPC_LISTEN) speaking HTTP/2 only, for gRPC clients of
   * hostd.v1.HostService such as grpcurl: h2c in clear, h2 with the listener's TLS when set.
   * The main address serves the same gRPC already (h2c by prior knowledge, h2 by ALPN); this
   * is for operators who want gRPC on an address of its own. Unset: none.
   */
  grpc?: { host: string; port: number };
  dataDir: string;
  /** PostgreSQL; unset means embedded PGlite under dataDir. */
  databaseUrl?: string;
  /** Becomes the first admin key on an empty database. */
  apiKey?: string;
  /** Wildcard domain for `<port>-<sandboxId>.<domain>` proxy hosts (else localhost:<port>). */
  domain?: string;
  /**
   * Internet access for sandboxes that do not ask (WRENN_DEFAULT_INTERNET). False, Wrenn's
   * default: only their allowOut is reachable. True matches E2B (allow_internet_access: true).
   */
  defaultInternet?: boolean;
  /** The /secrets API (WRENN_SECRETS, default on); off answers it with 403 secrets_disabled. */
  secrets?: boolean;
  agentUrl: string;
  agentToken?: string;
  /** PEM certificates (the file WRENN_AGENT_CA names) trusted for agents reached over https. */
  agentCa?: string;
  /** 32 bytes (hex or base64) sealing envd tokens; shared by control planes on one database. */
  secretKey?: string;
  logLevel: string;
  lifecycleIntervalMs: number;
  hostMonitorIntervalMs: number;
  /**
   * Seconds a sandbox that failed before it ever ran stays in default lists (it is kept for
   * the audit trail; asking for state error or every state still shows it).
   */
  failedCreateVisibleSeconds?: number;
  /** Bearer token a Prometheus scraper sends to GET /metrics (admin keys work too). */
  metricsToken?: string;
  /** Tests drive the lifecycle and host monitor by hand. */
  backgroundLoops: boolean;
  /** Seconds before an operation in flight counts as stuck (tests shorten them). */
  operationDeadlines?: Partial<OperationDeadlines>;
  migrationsDir?: string;
  /** How sandboxes are placed once hosts are registered (WRENN_SCHEDULER). */
  schedulerPolicy?: SchedulerPolicy;
  /** Hosts least-loaded samples per placement (WRENN_SCHEDULER_K). */
  schedulerSampleK?: number;
  /** Seconds a registered host may go without a heartbeat (WRENN_HOST_SILENCE_S, 90). */
  hostSilenceSeconds?: number;
  /** Paused this long, a sandbox is hibernated (WRENN_AUTO_HIBERNATE_S; 0, the default: never). */
  autoHibernateSeconds?: number;
  /** Lifetimes of host tokens; tests shorten them. */
  hostTokenLifetimes?: Partial<HostTokenLifetimes>;
  /** Seconds a template build may run before it is stopped (WRENN_TEMPLATE_BUILD_TIMEOUT_S). */
  templateBuildTimeoutSeconds?: number;
  /** Template builds one owner may run at once (WRENN_TEMPLATE_BUILDS_PER_OWNER). */
  templateBuildsPerOwner?: number;
}

export class ConfigError extends Error {}

export function parseListen(value: string, name = "WRENN_LISTEN"): { host: string; port: number } {
  const match =
    /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65_535) {
    throw new ConfigError(
      `${name} must be host:port (e.g. 127.0.0.1:3000), got ${JSON.stringify(value)}`,
    );
  }
  return { host: match[1] || match[2] || "127.0.0.1", port };
}

function url(name: string, value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
    return value;
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
}

/** A PEM file of certificates, read at start so a wrong path stops the start with its name. */
function pemFile(name: string, value: string | undefined, cwd: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  let text: string;
  try {
    text = readFileSync(resolve(cwd, value), "utf8");
  } catch (error) {
    throw new ConfigError(`${name}: cannot read ${value}: ${(error as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(
      `${name}: ${value} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return text;
}

/**
 * WRENN_TLS_CERT and WRENN_TLS_KEY: both or neither; each must read and the pair must make a
 * TLS context, so a wrong file stops the start with its name rather than the first handshake.
 */
function listenerTls(env: NodeJS.ProcessEnv, cwd: string): ControlPlaneConfig["tls"] {
  const certFile = nonEmpty(env.WRENN_TLS_CERT);
  const keyFile = nonEmpty(env.WRENN_TLS_KEY);
  try {
    return readTlsPair(
      { cert: "WRENN_TLS_CERT", key: "WRENN_TLS_KEY" },
      { cert: certFile, key: keyFile },
      (file) => resolve(cwd, file),
    );
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer`);
  return n;
}

function bool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function schedulerPolicy(value: string | undefined): SchedulerPolicy {
  if (value === undefined || value === "") return "least-loaded";
  if ((SCHEDULER_POLICIES as readonly string[]).includes(value)) return value as SchedulerPolicy;
  throw new ConfigError(
    `WRENN_SCHEDULER must be ${SCHEDULER_POLICIES.join(" or ")}, got ${JSON.stringify(value)}`,
  );
}

const nonEmpty = (value: string | undefined) =>
  value === undefined || value === "" ? undefined : value;

/** Reads the documented environment variables; relative paths resolve against cwd. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ControlPlaneConfig {
  const listen = parseListen(env.WRENN_LISTEN || "127.0.0.1:3000");
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  const tls = listenerTls(env, cwd);
  const grpcListen = nonEmpty(env.WRENN_GRPC_LISTEN);
  const grpc = grpcListen ? parseListen(grpcListen, "WRENN_GRPC_LISTEN") : undefined;
  if (grpc && grpc.port !== 0 && grpc.port === listen.port && grpc.host === listen.host) {
    throw new ConfigError("WRENN_GRPC_LISTEN must be another address than WRENN_LISTEN");
  }
  return {
    ...listen,
    ...(tls ? { tls } : {}),
    ...(grpc ? { grpc } : {}),
    dataDir: resolve(cwd, env.WRENN_DATA_DIR || ".wrenn"),
    databaseUrl,
    apiKey: nonEmpty(env.WRENN_API_KEY),
    domain: nonEmpty(env.WRENN_DOMAIN),
    defaultInternet: bool("WRENN_DEFAULT_INTERNET", env.WRENN_DEFAULT_INTERNET, false),
    secrets: bool("WRENN_SECRETS", env.WRENN_SECRETS, true),
    agentUrl: url("WRENN_AGENT_URL", env.WRENN_AGENT_URL || "http://127.0.0.1:7070"),
    agentToken: nonEmpty(env.WRENN_AGENT_TOKEN),
    agentCa: pemFile("WRENN_AGENT_CA", env.WRENN_AGENT_CA, cwd),
    secretKey: nonEmpty(env.WRENN_SECRET_KEY),
    logLevel: env.WRENN_LOG_LEVEL || "info",
    lifecycleIntervalMs: positiveInt(
      "WRENN_LIFECYCLE_INTERVAL_MS",
      env.WRENN_LIFECYCLE_INTERVAL_MS,
      1000,
    ),
    hostMonitorIntervalMs: positiveInt(
      "WRENN_HOST_MONITOR_INTERVAL_MS",
      env.WRENN_HOST_MONITOR_INTERVAL_MS,
      5000,
    ),
    failedCreateVisibleSeconds: positiveInt(
      "WRENN_FAILED_CREATE_VISIBLE_SECONDS",
      env.WRENN_FAILED_CREATE_VISIBLE_SECONDS,
      DEFAULT_FAILED_CREATE_VISIBLE_SECONDS,
    ),
    metricsToken: nonEmpty(env.WRENN_METRICS_TOKEN),
    schedulerPolicy: schedulerPolicy(env.WRENN_SCHEDULER),
    schedulerSampleK: positiveInt("WRENN_SCHEDULER_K", env.WRENN_SCHEDULER_K, 2),
    hostSilenceSeconds: positiveInt("WRENN_HOST_SILENCE_S", env.WRENN_HOST_SILENCE_S, 90),
    autoHibernateSeconds:
      env.WRENN_AUTO_HIBERNATE_S === "0"
        ? 0
        : positiveInt("WRENN_AUTO_HIBERNATE_S", env.WRENN_AUTO_HIBERNATE_S, 0),
    templateBuildTimeoutSeconds: positiveInt(
      "WRENN_TEMPLATE_BUILD_TIMEOUT_S",
      env.WRENN_TEMPLATE_BUILD_TIMEOUT_S,
      DEFAULT_TEMPLATE_BUILD_LIMITS.timeoutSeconds,
    ),
    templateBuildsPerOwner: positiveInt(
      "WRENN_TEMPLATE_BUILDS_PER_OWNER",
      env.WRENN_TEMPLATE_BUILDS_PER_OWNER,
      DEFAULT_TEMPLATE_BUILD_LIMITS.perOwner,
    ),
    backgroundLoops: true,
  };
}

/** The operator default for sandboxes that ask for nothing (WRENN_DEFAULT_INTERNET). */
export function egressLine(defaultInternet: boolean): string {
  return defaultInternet
    ? "sandboxes that ask for nothing reach the internet, as on E2B (WRENN_DEFAULT_INTERNET=true)"
    : "sandboxes that ask for nothing get no internet, only their allowOut (E2B's default is the internet: WRENN_DEFAULT_INTERNET=true matches it)";
}
