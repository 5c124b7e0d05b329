import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HostAgentService } from "@wrenn/proto/hostagent";
import { publishCheckpoints, seedCheckpoints } from "./checkpoint-seed.js";
import { agentMain, templatesDir } from "./paths.js";
import { poolEnv } from "./pool-env.js";
import { leaseSlot, slotPool, slotWireguardPorts } from "./slot-lease.js";

/**
 * A port of loopback nothing listens on, for a process started next to listen on. Taken below
 * the kernel's ephemeral range (32768-60999): a port from listen(0) could be handed to another
 * socket (an outgoing connection, another listen(0)) before the process bound it, and one CI
 * run lost an agent to EADDRINUSE that way. Two test lanes picking the same random port in the
 * moment between are left as a 1 in 12,000 chance.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW_PORTS.from + Math.floor(Math.random() * (LOW_PORTS.to - LOW_PORTS.from));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port of 127.0.0.1 in ${LOW_PORTS.from}-${LOW_PORTS.to}`);
}

const LOW_PORTS = { from: 20_000, to: 32_000 };

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * Removes an agent's nftables tables (its own and its guard), for harnesses cleaning up after
 * an agent that could not (killed, or stopped with sandboxes left).
 */
export function deleteAgentTables(table: string): Promise<void> {
  const script = [table, `${table}_guard`]
    .map((t) => `add table inet ${t}\ndelete table inet ${t}\n`)
    .join("");
  return new Promise((resolve) => {
    const child = execFile("nft", ["-f", "-"], () => resolve());
    child.stdin?.end(script);
  });
}

export interface AgentOptions {
  dataDir?: string;
  poolSize?: number;
  templateRestore?: boolean;
  /**
   * false: the agent checkpoints the base template itself, as on a new machine (tests of that
   * checkpoint); otherwise it starts with the one every test agent shares (checkpoint-seed.ts).
   */
  sharedCheckpoint?: boolean;
  networkPool?: string;
  env?: Record<string, string>;
  /**
   * A network namespace to run in, as on a machine of its own (tests/harness/host-netns.ts):
   * the agent then listens on `listenHost` there, with `tls` (required beyond loopback).
   */
  netns?: string;
  listenHost?: string;
  /** The port to listen on (default: a free one of loopback). */
  port?: number;
  tls?: { cert: string; key: string; ca: string };
}

/**
 * Runs its arguments in a mount namespace of their own whose /sys is the sysfs of the current
 * network namespace (the agent lists its interfaces under /sys/class/net), the machine's
 * cgroup mounts kept under it for runsc. /run/netns stays shared with the root mount
 * namespace, so the sandboxes' namespaces outlive a killed agent and its restart finds them.
 * / and /sys are made private first: nothing done here reaches the machine's mounts.
 */
const OWN_SYSFS = `set -e
mount --make-private /
mount --make-rprivate /sys
cg=$(mktemp -d)
mount --rbind /sys/fs/cgroup "$cg"
umount -l /sys
mount -t sysfs sysfs /sys
mount --move "$cg" /sys/fs/cgroup
rmdir "$cg"
exec "$@"`;

/** A real wrenn-agent process for a test, with its own data directory and address pool. */
export class AgentProcess {
  child?: ChildProcess;
  client!: Client<typeof HostAgentService>;
  url = "";
  output = "";

  /**
   * Address pool and names of this agent's network pieces, unique among every test agent alive
   * on the machine (other test runs and benchmarks included) and distinct from a real agent's.
   */
  readonly networkPrefix: string;
  readonly networkTable: string;
  readonly networkPool: string;
  private readonly slot = leaseSlot();

  private constructor(
    readonly dataDir: string,
    readonly opts: AgentOptions,
    private readonly ownsDataDir: boolean,
  ) {
    const tag = this.slot.slot.toString(16).padStart(2, "0");
    this.networkPrefix = `wt${tag}-`;
    this.networkTable = `wrenn_test_${tag}`;
    this.networkPool = opts.networkPool ?? slotPool(this.slot.slot);
  }

  static async start(opts: AgentOptions = {}): Promise<AgentProcess> {
    const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "wrenn-agent-test-")));
    const agent = new AgentProcess(dataDir, opts, !opts.dataDir);
    try {
      if (opts.sharedCheckpoint !== false && opts.templateRestore !== false) {
        await seedCheckpoints(dataDir, agentMain);
      }
      await agent.launch();
    } catch (err) {
      // The caller never gets this agent to dispose of: its process, tables, data dir and slot
      // go here (an agent slow to start on a loaded machine left all four behind).
      await agent.dispose().catch(() => {});
      throw err;
    }
    return agent;
  }

  /** Starts the agent; `port` to come back at the same address (a registered host's). */
  async launch(port?: number): Promise<void> {
    port ??= this.opts.port ?? (await freePort());
    const host = this.opts.listenHost ?? "127.0.0.1";
    const tls = this.opts.tls;
    this.url = `${tls ? "https" : "http"}://${host}:${port}`;
    const serve = [process.execPath, agentMain, "serve"];
    const [command, ...args] = this.opts.netns
      ? [
          ...["nsenter", `--net=/run/netns/${this.opts.netns}`],
          ...["unshare", "--mount", "--propagation", "unchanged", "sh", "-c", OWN_SYSFS, "sh"],
          ...serve,
        ]
      : serve;
    this.child = spawn(command!, args, {
      env: {
        ...process.env,
        WRENN_AGENT_DATA_DIR: this.dataDir,
        WRENN_TEMPLATES_DIR: templatesDir,
        WRENN_AGENT_LISTEN: `${host}:${port}`,
        ...(tls ? { WRENN_AGENT_TLS_CERT: tls.cert, WRENN_AGENT_TLS_KEY: tls.key } : {}),
        ...poolEnv(this.opts.poolSize ?? 0),
        WRENN_TEMPLATE_RESTORE: this.opts.templateRestore === false ? "0" : "1",
        WRENN_NETWORK_POOL: this.networkPool,
        WRENN_NETWORK_PREFIX: this.networkPrefix,
        WRENN_NETWORK_TABLE: this.networkTable,
        WRENN_WG_PORTS: slotWireguardPorts(this.slot.slot),
        WRENN_AGENT_EXIT_WITH_PARENT: "1",
        ...this.opts.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (this.child.pid) this.slot.addHolder(this.child.pid);
    this.child.stdout?.on("data", (d: Buffer) => {
      this.output += d.toString();
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.output += d.toString();
    });
    this.client = this.connect();
    // Generous: on a loaded 2-core CI host a restarted agent took over 60 s to probe runsc and
    // adopt its sandboxes before it listened.
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`wrenn-agent exited (${this.child.exitCode}):\n${this.output}`);
      }
      // A registering agent stores the token its control plane issued before it listens.
      if (!this.token && this.opts.env?.WRENN_CONTROL_PLANE_URL) {
        const stored = await readFile(path.join(this.dataDir, "registration.json"), "utf8").then(
          (text) => JSON.parse(text) as { agentToken: string },
          () => undefined,
        );
        if (stored) this.authenticate(stored.agentToken);
      }
      if ((await this.healthStatus()) === 204) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`wrenn-agent did not start:\n${this.output}`);
  }

  /**
   * Sends this token with every call of `client` from now on (a registered agent takes the
   * token its control plane issued, see docs/hosts.md). Kept across relaunches.
   */
  authenticate(token: string): void {
    this.token = token;
    this.client = this.connect();
  }

  private token: string | undefined;

  /** GET /healthz's status (0: not answering yet), trusting the agent's own certificate. */
  private healthStatus(): Promise<number> {
    const url = new URL("/healthz", this.url);
    const headers = this.token ? { authorization: `Bearer ${this.token}` } : {};
    return new Promise((resolve) => {
      const req = (url.protocol === "https:" ? https : http).get(
        url,
        { headers, ...(this.opts.tls ? { ca: this.opts.tls.ca } : {}), timeout: 10_000 },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(0));
    });
  }

  private connect(): Client<typeof HostAgentService> {
    const token = this.token;
    return createClient(
      HostAgentService,
      createConnectTransport({
        baseUrl: this.url,
        httpVersion: "1.1",
        ...(this.opts.tls ? { nodeOptions: { ca: this.opts.tls.ca } } : {}),
        interceptors: token
          ? [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${token}`);
                return next(req);
              },
            ]
          : [],
      }),
    );
  }

  /** Like a crash: no chance to clean anything. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => {
      this.output += "\n[test harness] wrenn-agent ignored SIGTERM for 30 s; killing it\n";
      child.kill("SIGKILL");
    }, 30_000);
    await exited;
    clearTimeout(timer);
    if (this.output.includes("[test harness] wrenn-agent ignored SIGTERM")) {
      throw new Error(`wrenn-agent did not stop on SIGTERM:\n${this.output.slice(-3000)}`);
    }
  }

  /** Destroys every sandbox, stops the agent and removes its data directory. */
  async dispose(): Promise<void> {
    try {
      if (this.child?.exitCode === null) {
        const { sandboxes } = await this.client.listSandboxes({});
        await Promise.all(
          sandboxes.map((s) => this.client.destroySandbox({ sandboxId: s.sandboxId })),
        );
      }
    } finally {
      await this.stop();
      // An agent stopped with sandboxes left (or killed) keeps its tables; a test agent is
      // gone for good.
      await deleteAgentTables(this.networkTable);
      if (this.ownsDataDir) {
        await publishCheckpoints(this.dataDir, agentMain).catch(() => {});
        await rm(this.dataDir, { recursive: true, force: true });
      }
      this.slot.release();
    }
  }
}
