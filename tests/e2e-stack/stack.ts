// The real stack for end-to-end tests: a wrenn-agent child (root, real runsc) and a control
// plane in this process, on PGlite in a temporary data dir or on a throwaway PostgreSQL.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type ControlPlane,
  type ControlPlaneConfig,
  startControlPlane,
} from "@wrenn/control-plane";
import {
  type ApiCallOptions,
  type ApiCallResult,
  callApi,
  createKey,
  type PostgresCluster,
  seedMigratedPglite,
  startPostgresCluster,
  TEST_ADMIN_KEY,
  type UserKey,
} from "@wrenn/control-plane/testing";
import { AgentChild, sandboxProcesses } from "@wrenn/local-stack";
import { pino } from "pino";
import { testCertificate } from "../../apps/host-agent/src/network/egress-test-kit.js";
import { deleteAgentTables, freePort } from "../harness/agent-process.js";
import { publishCheckpoints, seedCheckpoints } from "../harness/checkpoint-seed.js";
import { agentMain, templatesDir } from "../harness/paths.js";
import { poolEnv } from "../harness/pool-env.js";
import { leaseSlot, slotPool, slotWireguardPorts } from "../harness/slot-lease.js";

const run = promisify(execFile);

export interface StackOptions {
  database?: "pglite" | "postgres";
  /** Warm sandboxes the agent keeps (default 1). */
  poolSize?: number;
  /** Wildcard domain for `<port>-<id>.<domain>` routing. */
  domain?: string;
  config?: Partial<ControlPlaneConfig>;
  /** Extra environment for the host agent (e.g. WRENN_MOUNT_ROOTS). */
  agentEnv?: Record<string, string>;
  /**
   * The agent serves TLS with a certificate made for this stack, and the control plane trusts
   * it through WRENN_AGENT_CA's setting alone (every call and forward then crosses TLS).
   */
  agentTls?: boolean;
}

export class Stack {
  /** Unset only while the control plane is (re)starting. */
  cp!: ControlPlane;
  readonly adminKey = TEST_ADMIN_KEY;

  private constructor(
    readonly dataDir: string,
    readonly agent: AgentChild,
    readonly config: ControlPlaneConfig,
    readonly networkTable: string,
    private readonly releaseSlot: () => void,
    private readonly cluster?: PostgresCluster,
  ) {}

  /** The agent's interface prefix (WRENN_NETWORK_PREFIX): its veths and tuns start with it. */
  get agentNetworkPrefix(): string {
    return this.agent.options.env?.WRENN_NETWORK_PREFIX ?? "";
  }

  static async start(options: StackOptions = {}): Promise<Stack> {
    const dataDir = await mkdtemp(join(tmpdir(), "wrenn-e2e-stack-"));
    // Names and addresses no other test agent on this machine uses (see the slot lease).
    const slot = leaseSlot();
    const tag = slot.slot.toString(16).padStart(2, "0");
    const networkTable = `wrenn_e2e_${tag}`;
    const tls = options.agentTls ? await agentCertificate(dataDir) : undefined;
    const agent = new AgentChild({
      ...(tls ? { tls } : {}),
      dataDir,
      templatesDir,
      listen: `127.0.0.1:${await freePort()}`,
      token: randomBytes(16).toString("hex"),
      env: {
        ...poolEnv(options.poolSize ?? 1),
        WRENN_NETWORK_POOL: slotPool(slot.slot),
        WRENN_NETWORK_PREFIX: `we${tag}-`,
        WRENN_NETWORK_TABLE: networkTable,
        WRENN_WG_PORTS: slotWireguardPorts(slot.slot),
        WRENN_LOG_LEVEL: "info",
        ...options.agentEnv,
      },
      log: createWriteStream(join(dataDir, "agent.log"), { flags: "a" }),
      // Another build of the agent, to tell its regressions from the control plane's.
      agentMain: stackAgentMain(),
    });
    let cluster: PostgresCluster | undefined;
    let databaseUrl: string | undefined;
    try {
      await seedCheckpoints(join(dataDir, "agent"), stackAgentMain());
      await agent.start();
      if (agent.pid) slot.addHolder(agent.pid);
      if (options.database === "postgres") {
        cluster = await startPostgresCluster();
        databaseUrl = await cluster.createDatabase("migrated");
      } else {
        await seedMigratedPglite(dataDir);
      }
    } catch (error) {
      await agent.stop();
      await cluster?.stop();
      await rm(dataDir, { recursive: true, force: true });
      slot.release();
      throw error;
    }
    const config: ControlPlaneConfig = {
      host: "127.0.0.1",
      port: 0,
      dataDir,
      databaseUrl,
      apiKey: TEST_ADMIN_KEY,
      agentUrl: agent.url,
      ...(tls ? { agentCa: tls.ca } : {}),
      agentToken: agent.options.token,
      domain: options.domain,
      logLevel: process.env.WRENN_TEST_LOG ?? "silent",
      lifecycleIntervalMs: 500,
      hostMonitorIntervalMs: 500,
      backgroundLoops: true,
      ...options.config,
    };
    const stack = new Stack(dataDir, agent, config, networkTable, slot.release, cluster);
    try {
      await stack.startControlPlane();
    } catch (error) {
      await stack.close().catch(() => {});
      throw error;
    }
    return stack;
  }

  get url(): string {
    return this.cp.url;
  }

  async startControlPlane(): Promise<void> {
    const logger = pino({ level: this.config.logLevel });
    // Port 0 the first time; the same port after a restart, so SDK clients keep working.
    this.cp = await startControlPlane(this.config, { logger });
    this.config.port = Number(new URL(this.cp.url).port);
    await this.cp.monitor.refresh(this.cp.localHostId);
  }

  async restartControlPlane(): Promise<void> {
    await this.cp.close();
    await this.startControlPlane();
  }

  key(body: Record<string, unknown> = {}): Promise<UserKey> {
    return createKey(this, body);
  }

  /** fetch against the control plane with a key (the admin's by default). */
  call(method: string, path: string, o: ApiCallOptions = {}): Promise<ApiCallResult> {
    return callApi(this.url, method, path, o);
  }

  async agentLog(): Promise<string> {
    return readFile(join(this.dataDir, "agent.log"), "utf8").catch(() => "");
  }

  /** Destroys every sandbox, stops both programs and checks nothing of the agent is left. */
  async close(): Promise<void> {
    // The first failure is the one to see: a directory that cannot go after sandboxes were
    // left behind is only its echo.
    let failure: unknown;
    // Said with a leftover: why its destroy failed (a sandbox mid-pause, a timeout, ...).
    const destroyErrors: string[] = [];
    let built: string[] = [];
    try {
      if (this.cp !== undefined) built = await hostTemplatesOf(this.cp).catch(() => []);
      if (this.agent.running && this.cp !== undefined) {
        const rows = await this.cp.db.query<{ id: string; owner_id: string }>(
          "SELECT id, owner_id FROM sandboxes WHERE state <> 'stopped'",
        );
        for (const row of rows.rows) {
          await this.cp.sandboxes
            .destroy({ keyId: "", ownerId: row.owner_id, role: "admin", name: "test" }, row.id, {
              ofWorkspace: true,
            })
            .catch((error: unknown) => destroyErrors.push(`${row.id}: ${String(error)}`));
        }
      }
      await this.cp?.close();
      await this.agent.stop();
      await this.cluster?.stop();
      // Said as the failure, and killed so they do not load every later test file.
      const left = await killSandboxProcesses(this.dataDir);
      if (left.length > 0) {
        const why =
          destroyErrors.length > 0 ? `; destroys that failed: ${destroyErrors.join("; ")}` : "";
        throw new Error(`sandbox processes left behind: ${left.join(", ")}${why}`);
      }
    } catch (error) {
      failure = error;
    }
    for (const step of [
      () => deleteAgentTables(this.networkTable),
      () => removeHostTemplates(built),
      () => publishCheckpoints(join(this.dataDir, "agent"), stackAgentMain()).catch(() => {}),
      () => removeDataDir(this.dataDir),
    ]) {
      try {
        await step();
      } catch (error) {
        failure ??= error;
      }
    }
    this.releaseSlot();
    if (failure !== undefined) throw failure;
  }
}

export type { UserKey };

/** The agent a stack runs: WRENN_TEST_AGENT_MAIN (another build), else this checkout's. */
function stackAgentMain(): string {
  return process.env.WRENN_TEST_AGENT_MAIN || agentMain;
}

// Templates the control plane built go into the shared templates directory under names it
// chose (`t-` and 8 hex digits, template-service.ts). Left there, every later test agent would
// checkpoint each of them when it starts and keep a warm sandbox of each: minutes of both
// cores over a suite. The stack's own database says which are its own; another stack's (the
// other lane's) are never named in it.
const BUILT_TEMPLATE = /^t-[0-9a-f]{8}$/;

async function hostTemplatesOf(cp: ControlPlane): Promise<string[]> {
  const rows = await cp.db.query<{ name: string | null }>(
    `SELECT host_template AS name FROM templates
     UNION SELECT building_host_template FROM templates`,
  );
  return rows.rows.flatMap((r) => (r.name && BUILT_TEMPLATE.test(r.name) ? [r.name] : []));
}

/**
 * Removes templates from the shared directory after the agent stopped. Renamed out of the
 * listing first (as the agent's own removal does), so an agent listing it meanwhile never
 * sees half a template.
 */
async function removeHostTemplates(names: string[]): Promise<void> {
  for (const name of names) {
    const gone = join(templatesDir, `.removed-${name}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(join(templatesDir, name), gone);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    await removeDataDir(gone);
  }
}

/** Kills the sandbox processes (runsc) still running for a data directory; their pids. */
export async function killSandboxProcesses(dataDir: string): Promise<number[]> {
  const left = await sandboxProcesses(dataDir);
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  return left;
}

/**
 * Removes a stack's data directory. A stopped agent leaves its sandboxes as they are (they are
 * adopted at its next start), so a sandbox still being torn down when the test ended (a failed
 * build's step sandbox, say) keeps its root and disk mounted there: those are unmounted,
 * deepest first, and the removal tried again.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  try {
    await rm(dataDir, { recursive: true, force: true });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EBUSY") throw error;
  }
  const mounts = (await readFile("/proc/mounts", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point.startsWith(`${dataDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run("umount", [point]);
  await rm(dataDir, { recursive: true, force: true });
}

/** A self-signed certificate for 127.0.0.1 (the agent's listen address). */
async function agentCertificate(dataDir: string) {
  const dir = join(dataDir, "agent-tls");
  await mkdir(dir);
  const files = await testCertificate(dir, ["127.0.0.1"]);
  return { certFile: files.cert, keyFile: files.key, ca: await readFile(files.cert, "utf8") };
}
