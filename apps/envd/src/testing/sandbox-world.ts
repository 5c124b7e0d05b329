import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ENVD_PORT } from "@wrenn/contract";
import { HostAgentService } from "@wrenn/proto/hostagent";
import { inject } from "vitest";
import {
  EnvdWorld,
  execFileResult,
  type RunningEnvd,
  type ShellResult,
  shellQuote,
} from "./envd-world.js";
import { eventually } from "./eventually.js";

// envd inside a real gVisor sandbox built from the `base` template, created through a real
// wrenn-agent (started once per run by tests/envd-gvisor/global-setup.ts). The test process
// reaches envd at the sandbox's address, and runs its own checks inside the sandbox with
// `runsc exec` (as root), beside envd rather than through it.

/** What the gVisor project's global setup hands to the test files. */
export interface GvisorAgentInfo {
  /** The wrenn-agent's HostAgentService URL. */
  url: string;
  /** Its data directory: runsc state in runsc/, sandbox records and logs in sandboxes/. */
  dataDir: string;
}

declare module "vitest" {
  interface ProvidedContext {
    envdGvisorAgent: GvisorAgentInfo;
  }
}

const SANDBOX_ENVD = "/opt/wrenn/envd.mjs";

export class SandboxWorld extends EnvdWorld {
  readonly mode = "gvisor" as const;
  /** The sandbox's own envd (its init's child, /init-ed by the agent with defaultUser "user"). */
  envd!: RunningEnvd;

  private constructor(
    private readonly agent: Client<typeof HostAgentService>,
    private readonly dataDir: string,
    readonly sandboxId: string,
    readonly runtimeId: string,
    readonly address: string,
  ) {
    super();
  }

  /** Creates a sandbox from the base template; envd answers when this returns. */
  static async create(): Promise<SandboxWorld> {
    const info = inject("envdGvisorAgent");
    if (!info?.url) {
      throw new Error(
        "WRENN_ENVD_TARGET=gvisor needs the wrenn-agent of tests/envd-gvisor/global-setup.ts: " +
          "run `npx vitest run --project envd-gvisor`",
      );
    }
    const agent = createClient(
      HostAgentService,
      createConnectTransport({ baseUrl: info.url, httpVersion: "1.1" }),
    );
    const sandboxId = `sb-${randomBytes(4).toString("hex")}`;
    const { sandbox } = await agent.createSandbox({
      sandboxId,
      template: "base",
      // Two vCPUs (the CI machine's two cores) and room for the 256 MiB upload test.
      resources: { vcpus: 2, memoryMb: 1024, diskMb: 2048 },
    });
    if (!sandbox?.address) throw new Error(`sandbox ${sandboxId} has no address`);
    const runtimeId = await runtimeIdOf(info.dataDir, sandboxId);
    const world = new SandboxWorld(agent, info.dataDir, sandboxId, runtimeId, sandbox.address);
    world.envd = await world.mainEnvd();
    return world;
  }

  private runsc(args: string[], timeoutMs?: number): Promise<ShellResult> {
    // The agent's runsc (WRENN_RUNSC, which the agent was started with too) and its --root:
    // a runsc build only understands the state its own build wrote.
    return execFileResult(
      process.env.WRENN_RUNSC || "runsc",
      ["--root", join(this.dataDir, "runsc"), "--network=sandbox", ...args],
      timeoutMs,
    );
  }

  sh(command: string, timeoutMs?: number): Promise<ShellResult> {
    return this.runsc(["exec", this.runtimeId, "/bin/sh", "-c", command], timeoutMs);
  }

  private async mainEnvd(): Promise<RunningEnvd> {
    const pid = Number((await this.run(`pgrep -P 1 -f ${SANDBOX_ENVD}`)).trim().split("\n")[0]);
    if (!(pid > 0)) throw new Error("envd not found in the sandbox");
    const logFile = join(this.dataDir, "sandboxes", this.runtimeId, "runtime.log");
    return {
      url: `http://${this.address}:${ENVD_PORT}`,
      host: this.address,
      port: ENVD_PORT,
      pid,
      defaultUser: "user",
      home: "/home/user",
      // The sandbox's stdout and stderr, envd's JSON lines among them.
      logs: () => readFile(logFile, "utf8"),
      // As the agent does after a restore: to the container's init, which forwards it to envd.
      signal: async (signal) => {
        const r = await this.runsc(["kill", this.runtimeId, signal.replace(/^SIG/, "")]);
        if (r.exitCode !== 0) throw new Error(`runsc kill ${signal}: ${r.stderr}`);
      },
      alive: () => this.processAlive(pid),
      // The sandbox's envd lives as long as the sandbox: close() destroys it.
      stop: async () => {},
    };
  }

  async spawnEnvd(env: Record<string, string> = {}): Promise<RunningEnvd> {
    const assignments = Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join(" ");
    const [pidText, logFile] = (
      await this.run(
        `set -e; log=$(mktemp /tmp/envd-XXXXXX.log); cd /; ${assignments} nohup /usr/bin/node ${SANDBOX_ENVD} --listen 0.0.0.0:0 >"$log" 2>&1 </dev/null & echo "$! $log"`,
      )
    )
      .trim()
      .split(" ");
    const pid = Number(pidText);
    const log = logFile ?? "";
    const logs = () => this.readText(log).catch(() => "");
    const port = await eventually(async () => {
      for (const line of (await logs()).split("\n")) {
        if (line.includes('"envd listening"')) return (JSON.parse(line) as { port: number }).port;
      }
      if (!(await this.processAlive(pid))) throw new Error(`envd exited:\n${await logs()}`);
      return undefined;
    }, 30_000);
    const envd: RunningEnvd = {
      url: `http://${this.address}:${port}`,
      host: this.address,
      port,
      pid,
      defaultUser: "root",
      home: "/root",
      logs,
      signal: async (signal) => {
        await this.run(`kill -${signal.replace(/^SIG/, "")} ${pid}`);
      },
      alive: () => this.processAlive(pid),
      stop: async () => {
        await this.sh(`kill -TERM ${pid}`);
        await eventually(async () => ((await this.processAlive(pid)) ? undefined : true));
      },
    };
    this.spawned.push(envd);
    return envd;
  }

  async close(): Promise<void> {
    await this.agent.destroySandbox({ sandboxId: this.sandboxId });
  }
}

/** The agent's runtime id (runsc's container id) for a sandbox, from its record on disk. */
async function runtimeIdOf(dataDir: string, sandboxId: string): Promise<string> {
  const root = join(dataDir, "sandboxes");
  for (const name of await readdir(root)) {
    try {
      const record = JSON.parse(await readFile(join(root, name, "record.json"), "utf8")) as {
        sandboxId?: string;
        runtimeId: string;
      };
      if (record.sandboxId === sandboxId) return record.runtimeId;
    } catch {
      // Not a record (or one being written): not ours.
    }
  }
  throw new Error(`no record of ${sandboxId} in ${root}`);
}
