import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HostAgentService } from "@wrenn/proto/hostagent";
import { agentMain, templatesDir } from "./paths.js";
import { leaseSlot, slotPool, slotWireguardPorts } from "./slot-lease.js";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
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
  networkPool?: string;
  env?: Record<string, string>;
}

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
    await agent.launch();
    return agent;
  }

  /** Starts the agent; `port` to come back at the same address (a registered host's). */
  async launch(port?: number): Promise<void> {
    port ??= await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(process.execPath, [agentMain, "serve"], {
      env: {
        ...process.env,
        WRENN_AGENT_DATA_DIR: this.dataDir,
        WRENN_TEMPLATES_DIR: templatesDir,
        WRENN_AGENT_LISTEN: `127.0.0.1:${port}`,
        WRENN_POOL_SIZE: String(this.opts.poolSize ?? 0),
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
      try {
        const res = await fetch(`${this.url}/healthz`, {
          headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        });
        if (res.status === 204) return;
      } catch {
        // Not listening yet.
      }
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

  private connect(): Client<typeof HostAgentService> {
    const token = this.token;
    return createClient(
      HostAgentService,
      createConnectTransport({
        baseUrl: this.url,
        httpVersion: "1.1",
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
      if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
      this.slot.release();
    }
  }
}
