// The Sandbox class: E2B's shape (create / connect / list / kill, commands, files, pty) over
// Wrenn's /v1 API, with envd reached through the control plane's proxy.
import type { EgressHeaderRules } from "@wrenn/contract";
import { ApiClient } from "./api-client.js";
import { Commands } from "./commands/commands.js";
import { Pty } from "./commands/pty.js";
import { ConnectionConfig, type ConnectionOpts } from "./connection-config.js";
import { ENVD_PORT, EnvdConnection } from "./envd/envd-connection.js";
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  SandboxNotRunningError,
  ServerError,
} from "./errors.js";
import { Filesystem } from "./files/filesystem.js";
import {
  type OwnedSandboxInfo,
  parseOwnedSandbox,
  parseSandbox,
  parseStats,
  type SandboxInfo,
  type SandboxMetrics,
} from "./sandbox-info.js";
import { type SandboxListOpts, SandboxPaginator } from "./sandbox-paginator.js";

/** A host directory bound into the sandbox (admin API keys only). */
export interface SandboxMountOpts {
  /** Absolute directory on the host; it must lie under the agent's WRENN_MOUNT_ROOTS. */
  hostPath: string;
  /** Absolute path inside the sandbox. */
  path: string;
  /** Default false. */
  readOnly?: boolean;
}

/** Options of {@link Sandbox.create}. */
export interface SandboxOpts extends ConnectionOpts {
  /** Template name; default `base` (or the first argument of `create`). */
  template?: string;
  /**
   * Your name for the sandbox, usable wherever its id is (`Sandbox.connect("web")`). Unique
   * among your live sandboxes (it frees up when one is destroyed, expires or fails); a clash is a ConflictError with
   * code `sandbox_name_taken`.
   */
  name?: string;
  /**
   * Lifetime in ms (rounded up to seconds); then it is destroyed, or paused with `autoPause`.
   * Default 300000. 0 means the longest the server allows (24 h), never "end now".
   */
  timeoutMs?: number;
  /** Your labels, filterable with `Sandbox.list({ query: { metadata } })`. */
  metadata?: Record<string, string>;
  /** Environment variables of every process in the sandbox (never stored by the server). */
  envs?: Record<string, string>;
  vcpus?: number;
  memoryMb?: number;
  diskMb?: number;
  /**
   * Let the sandbox reach everything not in `network.denyOut`. Unset: the server's default
   * (Wrenn's is false: only `network.allowOut` is reachable).
   */
  allowInternetAccess?: boolean;
  /**
   * Egress rules, E2B's semantics: `allowOut` (IPv4 addresses, CIDRs, host names, `*.domain`)
   * wins over `denyOut` (IPv4 addresses or CIDRs).
   */
  network?: SandboxCreateNetworkOpts;
  /** At the end of its lifetime, pause instead of destroy. */
  autoPause?: boolean;
  /**
   * With `autoPause`: a request to one of its ports (or envd) while it is paused resumes it
   * first, as E2B's `lifecycle.autoResume`.
   */
  autoResume?: boolean;
  /** Host directories to mount (admin keys only: others get PermissionDeniedError `mounts_not_allowed`; a directory outside the agent's mount roots gets `mount_not_allowed`). */
  mounts?: SandboxMountOpts[];
}

/**
 * A destination in `allowOut` is reachable whatever `denyOut` says. `allowOut` also takes host
 * names and `*.domain` wildcards (TCP 80/443, decided by TLS SNI or HTTP Host); `denyOut` takes
 * IPv4 addresses or CIDRs only.
 */
export interface SandboxNetworkOpts {
  allowOut?: string[];
  denyOut?: string[];
  /**
   * E2B's bring-your-own SOCKS5 proxy: every TCP connection the rules allow goes through it
   * (host-name rules ask it for the name); UDP does not. If it is down or refuses the user name
   * and password, the connection is refused, never sent direct. null or unset: none.
   */
  egressProxy?: { address: string; username?: string; password?: string } | null;
  /**
   * Headers the host's egress proxy sets on HTTP(S) requests to a domain (E2B's
   * `network.rules`), e.g. `{ "api.example.com": [{ transform: { headers: { Authorization:
   * "Bearer ${e2b.secrets.API_TOKEN}" } } }] }`: placeholders are filled in on the host, so the
   * secret never enters the sandbox. Rules do not allow a domain: `allowOut` does. With an
   * egressProxy their requests go out through it too.
   */
  rules?: EgressHeaderRules;
}

/** At create only, as in E2B's SDK: who may reach the sandbox's ports. */
export interface SandboxCreateNetworkOpts extends SandboxNetworkOpts {
  /**
   * false: a port reached through its URL needs the `e2b-traffic-access-token` header with
   * {@link Sandbox.trafficAccessToken}. Default true: anyone with the URL.
   */
  allowPublicTraffic?: boolean;
}

/** A whole new egress policy for {@link Sandbox.updateNetwork}: what it leaves out is cleared. */
export interface SandboxNetworkUpdate extends SandboxNetworkOpts {
  /** Unset: the server's default, as at create. */
  allowInternetAccess?: boolean;
}

function networkBody(update: SandboxNetworkUpdate) {
  const { allowInternetAccess, allowOut, denyOut, egressProxy, rules } = update;
  return {
    ...(allowInternetAccess === undefined ? {} : { allowInternet: allowInternetAccess }),
    network: {
      ...(allowOut === undefined ? {} : { allowOut }),
      ...(denyOut === undefined ? {} : { denyOut }),
      ...(egressProxy === undefined ? {} : { egressProxy }),
      ...(rules === undefined ? {} : { rules }),
    },
  };
}

/** Options of {@link Sandbox.connect}. */
export interface SandboxConnectOpts extends ConnectionOpts {
  /**
   * Lifetime from now in ms when the sandbox was paused and is resumed; for a running one it
   * only ever extends the end time. Default: the timeout it was created with.
   */
  timeoutMs?: number;
}

/** Options of the calls that only need the API. */
export type SandboxApiOpts = ConnectionOpts;

/**
 * A sandbox: create one with {@link Sandbox.create}, or attach to an existing one with
 * {@link Sandbox.connect} (which resumes it if it was paused).
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create("base", { timeoutMs: 600_000 });
 * const { stdout } = await sandbox.commands.run("uname -a");
 * await sandbox.kill();
 * ```
 */
export class Sandbox {
  /** The sandbox's id (`sb-` and 8 hex digits). */
  readonly sandboxId: string;
  /**
   * The `e2b-traffic-access-token` header value its ports need when it was created with
   * `network.allowPublicTraffic: false`; undefined when they are public.
   */
  readonly trafficAccessToken: string | undefined;
  /** Run commands: `run`, `start`, `connect`, `list`, `kill`, `sendStdin`, `closeStdin`. */
  readonly commands: Commands;
  /** Files and directories: `read`, `write`, `list`, `exists`, `watchDir`, ... */
  readonly files: Filesystem;
  /** Interactive terminals: `create`, `sendInput`, `resize`, `kill`. */
  readonly pty: Pty;
  /** The connection settings this instance uses (URL, timeouts). */
  readonly connectionConfig: ConnectionConfig;
  private readonly api: ApiClient;
  private readonly envd: EnvdConnection;

  /** Prefer {@link Sandbox.create} and {@link Sandbox.connect}, which fetch `info` for you. */
  constructor(
    info: Pick<OwnedSandboxInfo, "sandboxId" | "envdAccessToken"> &
      Partial<Pick<OwnedSandboxInfo, "trafficAccessToken">>,
    opts: ConnectionOpts = {},
  ) {
    this.sandboxId = info.sandboxId;
    this.trafficAccessToken = info.trafficAccessToken;
    this.connectionConfig = new ConnectionConfig(opts);
    this.api = new ApiClient(this.connectionConfig);
    this.envd = new EnvdConnection(this.api, info.sandboxId, info.envdAccessToken);
    this.commands = new Commands(this.envd, this.connectionConfig);
    this.files = new Filesystem(this.envd, this.connectionConfig);
    this.pty = new Pty(this.envd, this.connectionConfig);
  }

  /**
   * Creates a sandbox and resolves once envd inside it answers.
   * @param template template name (default `base`); may also be given as `opts.template`.
   */
  static create(opts?: SandboxOpts): Promise<Sandbox>;
  static create(template: string, opts?: SandboxOpts): Promise<Sandbox>;
  static async create(
    templateOrOpts?: string | SandboxOpts,
    maybeOpts?: SandboxOpts,
  ): Promise<Sandbox> {
    const opts = (typeof templateOrOpts === "string" ? maybeOpts : templateOrOpts) ?? {};
    const template = typeof templateOrOpts === "string" ? templateOrOpts : opts.template;
    const api = new ApiClient(new ConnectionConfig(opts));
    const body = await api.json({
      method: "POST",
      path: "/v1/sandboxes",
      body: createBody(template, opts),
    });
    return new Sandbox(parseOwnedSandbox(body), opts);
  }

  /**
   * Attaches to an existing sandbox, resuming it first if it is paused (or hibernated).
   * Throws NotFoundError (SandboxNotFoundError) when it does not exist or is not yours.
   */
  static async connect(sandboxId: string, opts: SandboxConnectOpts = {}): Promise<Sandbox> {
    const info = await resume(new ApiClient(new ConnectionConfig(opts)), sandboxId, opts);
    return new Sandbox(info, opts);
  }

  /** Your sandboxes, a page at a time (`nextItems()`) or all with `for await`. */
  static list(opts: SandboxListOpts & ConnectionOpts = {}): SandboxPaginator {
    return new SandboxPaginator(new ApiClient(new ConnectionConfig(opts)), opts);
  }

  /** Destroys a sandbox. True when it existed (destroying a stopped one again is fine); false when unknown. */
  static async kill(sandboxId: string, opts: SandboxApiOpts = {}): Promise<boolean> {
    return kill(new ApiClient(new ConnectionConfig(opts)), sandboxId);
  }

  /** What the API knows about a sandbox (stopped ones stay readable). */
  static async getInfo(sandboxId: string, opts: SandboxApiOpts = {}): Promise<SandboxInfo> {
    const api = new ApiClient(new ConnectionConfig(opts));
    return parseSandbox(await api.json({ path: sandboxPath(sandboxId) }));
  }

  /** Sets the sandbox's end time to now + `timeoutMs` (rounded up to seconds; may shorten it). */
  static async setTimeout(
    sandboxId: string,
    timeoutMs: number,
    opts: SandboxApiOpts = {},
  ): Promise<void> {
    const api = new ApiClient(new ConnectionConfig(opts));
    await api.json({
      method: "POST",
      path: `${sandboxPath(sandboxId)}/timeout`,
      body: { timeoutSeconds: seconds("timeoutMs", timeoutMs) },
    });
  }

  /**
   * Replaces the egress policy of a running or paused sandbox at once, without a restart; its
   * open connections that the new policy forbids are cut. E2B's `updateNetwork`.
   */
  static async updateNetwork(
    sandboxId: string,
    update: SandboxNetworkUpdate,
    opts: SandboxApiOpts = {},
  ): Promise<SandboxInfo> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const body = await api.json({
      method: "PUT",
      path: `${sandboxPath(sandboxId)}/network`,
      body: networkBody(update),
    });
    return parseSandbox(body);
  }

  /** Pauses a running sandbox (its memory and disk kept). False when it was not running. */
  /**
   * Moves a paused sandbox to the artifact store (state `hibernated`); `connect` resumes it on
   * whichever host can take it, files and processes intact. Throws when it is not paused.
   */
  static async hibernate(sandboxId: string, opts: SandboxApiOpts = {}): Promise<void> {
    return hibernate(new ApiClient(new ConnectionConfig(opts)), sandboxId);
  }

  static async pause(sandboxId: string, opts: SandboxApiOpts = {}): Promise<boolean> {
    return pause(new ApiClient(new ConnectionConfig(opts)), sandboxId);
  }

  /** Current CPU, memory and disk use, as a one-sample list (E2B's shape); empty when not running. */
  static async getMetrics(sandboxId: string, opts: SandboxApiOpts = {}): Promise<SandboxMetrics[]> {
    return metrics(new ApiClient(new ConnectionConfig(opts)), sandboxId);
  }

  /** Destroys this sandbox. */
  kill(): Promise<boolean> {
    return kill(this.api, this.sandboxId);
  }

  /** Pauses this sandbox; `connect()` or `resume()` brings it back. False when it was not running. */
  pause(): Promise<boolean> {
    return pause(this.api, this.sandboxId);
  }

  /** Resumes this sandbox if it is paused (else extends its end time only). */
  async resume(opts: Pick<SandboxConnectOpts, "timeoutMs"> = {}): Promise<this> {
    const info = await resume(this.api, this.sandboxId, opts);
    this.envd.accessToken = info.envdAccessToken;
    return this;
  }

  /** E2B's name for {@link Sandbox.resume}. */
  connect(opts: Pick<SandboxConnectOpts, "timeoutMs"> = {}): Promise<this> {
    return this.resume(opts);
  }

  /** Sets the end time to now + `timeoutMs` (rounded up to seconds; may shorten it). */
  async setTimeout(timeoutMs: number): Promise<void> {
    await this.api.json({
      method: "POST",
      path: `${sandboxPath(this.sandboxId)}/timeout`,
      body: { timeoutSeconds: seconds("timeoutMs", timeoutMs) },
    });
  }

  /** Replaces this sandbox's egress policy at once (see {@link Sandbox.updateNetwork}). */
  async updateNetwork(update: SandboxNetworkUpdate): Promise<SandboxInfo> {
    const body = await this.api.json({
      method: "PUT",
      path: `${sandboxPath(this.sandboxId)}/network`,
      body: networkBody(update),
    });
    return parseSandbox(body);
  }

  getInfo(): Promise<SandboxInfo> {
    return this.api.json({ path: sandboxPath(this.sandboxId) }).then((b) => parseSandbox(b));
  }

  getMetrics(): Promise<SandboxMetrics[]> {
    return metrics(this.api, this.sandboxId);
  }

  /** Whether envd in the sandbox answers (false when paused, stopped or unknown). */
  async isRunning(): Promise<boolean> {
    try {
      const response = await this.envd.fetch(`${this.envd.baseUrl}/health`, {
        signal: this.connectionConfig.requestSignal(),
      });
      await response.body?.cancel();
      if (response.ok) return true;
      if (response.status === 502) return false;
      throw new ServerError(
        `http_${response.status}`,
        `envd's /health answered ${response.status}`,
      );
    } catch (error) {
      if (error instanceof SandboxNotRunningError || error instanceof NotFoundError) return false;
      if (
        error instanceof ConflictError ||
        (error instanceof ServerError && error.status === 502)
      ) {
        return false;
      }
      throw error;
    }
  }

  /**
   * Where a port of the sandbox is reached from outside, without a scheme (E2B's `getHost`):
   * `<port>-<id>.<domain>` when the control plane has a wildcard domain (the `domain` option
   * or WRENN_DOMAIN), else `<api host>/v1/sandboxes/<id>/ports/<port>`, which needs the API key
   * in `X-API-Key`. {@link Sandbox.getUrl} gives the full URL.
   */
  getHost(port: number): string {
    checkPort(port);
    const domain = this.connectionConfig.domain;
    if (domain) return `${port}-${this.sandboxId}.${domain}`;
    const api = new URL(this.connectionConfig.apiUrl);
    const prefix = api.pathname.replace(/\/+$/, "");
    return `${api.host}${prefix}${sandboxPath(this.sandboxId)}/ports/${port}`;
  }

  /** The http(s) URL of a sandbox port (see {@link Sandbox.getHost}). */
  getUrl(port: number): string {
    return `${new URL(this.connectionConfig.apiUrl).protocol}//${this.getHost(port)}`;
  }

  /** The port envd listens on inside every sandbox. */
  static readonly envdPort = ENVD_PORT;
}

function sandboxPath(id: string): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidArgumentError("invalid_argument", "a sandbox id must be a non-empty string");
  }
  return `/v1/sandboxes/${encodeURIComponent(id)}`;
}

function createBody(template: string | undefined, o: SandboxOpts): Record<string, unknown> {
  const resources = {
    ...(o.vcpus === undefined ? {} : { vcpus: o.vcpus }),
    ...(o.memoryMb === undefined ? {} : { memoryMb: o.memoryMb }),
    ...(o.diskMb === undefined ? {} : { diskMb: o.diskMb }),
  };
  return {
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(template === undefined ? {} : { template }),
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(o.timeoutMs === undefined ? {} : { timeoutSeconds: seconds("timeoutMs", o.timeoutMs) }),
    ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
    ...(o.envs === undefined ? {} : { envVars: o.envs }),
    ...(o.allowInternetAccess === undefined ? {} : { allowInternet: o.allowInternetAccess }),
    ...(o.network === undefined ? {} : { network: o.network }),
    ...(o.autoPause === undefined ? {} : { autoPause: o.autoPause }),
    ...(o.autoResume === undefined ? {} : { autoResume: o.autoResume }),
    ...(o.mounts === undefined
      ? {}
      : {
          mounts: o.mounts.map((m) => ({
            hostPath: m.hostPath,
            path: m.path,
            readOnly: m.readOnly ?? false,
          })),
        }),
  };
}

async function resume(
  api: ApiClient,
  id: string,
  opts: Pick<SandboxConnectOpts, "timeoutMs">,
): Promise<OwnedSandboxInfo> {
  const body = await api.json({
    method: "POST",
    path: `${sandboxPath(id)}/resume`,
    body:
      opts.timeoutMs === undefined ? {} : { timeoutSeconds: seconds("timeoutMs", opts.timeoutMs) },
    // Resuming a hibernated sandbox copies its snapshot back; that is no request-sized wait.
    timeoutMs: Math.max(api.config.requestTimeoutMs, 300_000),
  });
  return parseOwnedSandbox(body);
}

async function kill(api: ApiClient, id: string): Promise<boolean> {
  try {
    await api.json({ method: "DELETE", path: sandboxPath(id) });
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}

async function hibernate(api: ApiClient, id: string): Promise<void> {
  await api.json({
    method: "POST",
    path: `${sandboxPath(id)}/hibernate`,
    body: {},
    // The checkpoint and disk travel to the artifact store: allow minutes.
    timeoutMs: Math.max(api.config.requestTimeoutMs, 900_000),
  });
}

async function pause(api: ApiClient, id: string): Promise<boolean> {
  try {
    await api.json({
      method: "POST",
      path: `${sandboxPath(id)}/pause`,
      body: {},
      // Pausing writes the sandbox's memory to disk: allow more than a request's usual bound.
      timeoutMs: Math.max(api.config.requestTimeoutMs, 300_000),
    });
    return true;
  } catch (error) {
    if (error instanceof ConflictError) return false;
    throw error;
  }
}

async function metrics(api: ApiClient, id: string): Promise<SandboxMetrics[]> {
  try {
    return [parseStats(await api.json({ path: `${sandboxPath(id)}/stats` }))];
  } catch (error) {
    if (error instanceof ConflictError) return [];
    throw error;
  }
}

function seconds(name: string, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${name} must be a number of milliseconds > 0, got ${ms}`,
    );
  }
  return Math.ceil(ms / 1000);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(
      "invalid_port",
      `port must be an integer from 1 to 65535, got ${port}`,
    );
  }
}
