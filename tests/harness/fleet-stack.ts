// A control plane with no agent of its own, and real host agents that join it with
// registration tokens (each with its own slot: pool, prefix, nft table, data dir, WireGuard
// ports), all sharing one S3 protocol server (s3rver on loopback, behind a relay that can cut
// transfers) as their artifact store. tests/e2e-stack/fleet.test.ts and
// tests/workspaces/move.test.ts run on it.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "@wrenn/control-plane";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";
import { pino } from "pino";
import { FaultRelay, TestS3 } from "../../apps/host-agent/src/artifacts/store-test-kit.js";
import { AgentProcess, freePort } from "./agent-process.js";
import { waitFor } from "./wait.js";

export interface FleetHostRow {
  id: string;
  kind: string;
  status: string;
  url: string;
  capacity: { total: { memoryMb: number }; used: { memoryMb: number } } | null;
}

export interface FleetAnswer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the JSON answer holds
  body: any;
}

/** A /v1 call as the admin to the control plane at this URL; the JSON answer parsed. */
export async function adminCall(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<FleetAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      "x-api-key": TEST_ADMIN_KEY,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: text ? JSON.parse(text) : undefined };
}

export class FleetStack {
  readonly agents: AgentProcess[] = [];
  /** Each agent's host id, as it stored it when it registered. */
  readonly hostOf = new Map<AgentProcess, string>();

  private constructor(
    readonly cp: ControlPlane,
    readonly dataDir: string,
    readonly s3: TestS3,
    readonly relay: FaultRelay,
  ) {}

  static async start(): Promise<FleetStack> {
    const dataDir = await mkdtemp(join(tmpdir(), "wrenn-e2e-fleet-"));
    const s3 = await TestS3.start();
    const relay = await FaultRelay.start(s3.port);
    const level = process.env.WRENN_TEST_LOG ?? "silent";
    const cp = await startControlPlane(
      {
        host: "127.0.0.1",
        port: 0,
        dataDir,
        apiKey: TEST_ADMIN_KEY,
        // No configured agent listens here: every host of this control plane registered.
        agentUrl: `http://127.0.0.1:${await freePort()}`,
        logLevel: level,
        lifecycleIntervalMs: 500,
        hostMonitorIntervalMs: 500,
        backgroundLoops: true,
        schedulerPolicy: "round-robin",
        hostSilenceSeconds: 3,
      },
      { logger: pino({ level }) },
    );
    return new FleetStack(cp, dataDir, s3, relay);
  }

  get url(): string {
    return this.cp.url;
  }

  /** A /v1 call as the admin. */
  call(method: string, path: string, body?: unknown): Promise<FleetAnswer> {
    return adminCall(this.cp.url, method, path, body);
  }

  /** A command in the sandbox (its stdout, trimmed); anything but 200 throws. */
  async run(sandboxId: string, command: string): Promise<string> {
    const r = await this.call("POST", `/v1/sandboxes/${sandboxId}/exec`, { command });
    if (r.status !== 200) throw new Error(`exec ${command}: ${r.status} ${r.text}`);
    return (r.body.stdout as string).trim();
  }

  /** A process that counts into /home/user/counter: running once it passed 5. */
  async startCounter(sandboxId: string): Promise<void> {
    await this.run(
      sandboxId,
      "setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > /home/user/counter; sleep 0.2; done' </dev/null >/dev/null 2>&1 &",
    );
    await waitFor(async () => (await this.counter(sandboxId)) > 5, 60_000, "counting");
  }

  async counter(sandboxId: string): Promise<number> {
    return Number(await this.run(sandboxId, "cat /home/user/counter"));
  }

  /**
   * The counter started before a pause is the same process, still counting from where it was
   * (a new one would start again at 1). Returns what it read first.
   */
  async counterGoesOn(sandboxId: string): Promise<number> {
    const after = await this.counter(sandboxId);
    if (after <= 5) throw new Error(`the counter is at ${after}: it started again`);
    await waitFor(
      async () => (await this.counter(sandboxId)) > after,
      60_000,
      "the counter moving on",
    );
    return after;
  }

  async hosts(): Promise<FleetHostRow[]> {
    return ((await this.call("GET", "/v1/hosts")).body as { hosts: FleetHostRow[] }).hosts;
  }

  async newToken(): Promise<string> {
    const r = await this.call("POST", "/v1/hosts/tokens", {});
    if (r.status !== 201) throw new Error(`host token: ${r.status} ${r.text}`);
    return (r.body as { token: string }).token;
  }

  /**
   * An agent that registers with this token and uses the shared store (or, with sharedStore
   * false, the default store on its own disk).
   */
  async startAgent(token: string, opts: { sharedStore?: boolean } = {}): Promise<AgentProcess> {
    const agent = await AgentProcess.start({
      poolSize: 0,
      env: {
        WRENN_CONTROL_PLANE_URL: this.cp.url,
        WRENN_REGISTRATION_TOKEN: token,
        WRENN_HEARTBEAT_INTERVAL_MS: "500",
        ...(opts.sharedStore === false ? {} : this.s3.env(this.relay.port)),
      },
    });
    this.agents.push(agent);
    const stored = JSON.parse(await readFile(join(agent.dataDir, "registration.json"), "utf8"));
    this.hostOf.set(agent, stored.hostId);
    return agent;
  }

  async waitOnline(count: number): Promise<void> {
    await waitFor(
      async () =>
        (await this.hosts()).filter((h) => h.kind === "registered" && h.status === "online")
          .length === count,
      120_000,
      `${count} registered hosts online`,
    );
  }

  /** Destroys what is left, then stops the agents, the control plane and the store. */
  async dispose(): Promise<void> {
    try {
      const rows = await this.cp.db.query<{ id: string }>(
        "SELECT id FROM sandboxes WHERE state <> 'stopped'",
      );
      for (const row of rows.rows) await this.call("DELETE", `/v1/sandboxes/${row.id}`);
    } finally {
      for (const agent of this.agents) await agent.dispose();
      await this.cp.close();
      await this.relay.close();
      await this.s3.close();
      await rm(this.dataDir, { recursive: true, force: true });
    }
  }
}
