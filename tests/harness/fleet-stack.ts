// A control plane with no agent of its own, and real host agents that join it with
// registration tokens (each with its own slot: pool, prefix, nft table, data dir, WireGuard
// ports), all sharing one S3 protocol server (s3rver on loopback, behind a relay that can cut
// transfers) as their artifact store; built on registered-fleet.ts, as fleet-netns.test.ts is.
// tests/workspaces/move.test.ts runs on it.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "@wrenn/control-plane";
import { pino } from "pino";
import { FaultRelay, TestS3 } from "../../apps/host-agent/src/artifacts/store-test-kit.js";
import type { AgentProcess } from "./agent-process.js";
import {
  type AdminAnswer,
  adminApi,
  closeFleet,
  fleetConfig,
  type HostRow,
  newToken,
  startRegisteredAgent,
  waitRegisteredOnline,
} from "./registered-fleet.js";
import { waitFor } from "./wait.js";

export class FleetStack {
  readonly agents: AgentProcess[] = [];
  /** Each agent's host id, as it stored it when it registered. */
  readonly hostOf = new Map<AgentProcess, string>();
  private readonly api = adminApi(() => this.cp.url);

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
    // Nothing here kills an agent, so a host is called silent only after 30 s: with 3 s (the
    // fleet test's, which waits for a kill -9 to show) a heartbeat late on a loaded machine
    // made the source host unreachable mid-move (seen at a load average of 14).
    const cp = await startControlPlane(
      await fleetConfig(dataDir, { schedulerPolicy: "round-robin", hostSilenceSeconds: 30 }),
      { logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }) },
    );
    return new FleetStack(cp, dataDir, s3, relay);
  }

  get url(): string {
    return this.cp.url;
  }

  /** A /v1 call as the admin. */
  call(method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    return this.api.call(method, path, body);
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

  hosts(): Promise<HostRow[]> {
    return this.api.hosts<HostRow>();
  }

  newToken(): Promise<string> {
    return newToken(this.api);
  }

  /**
   * An agent that registers with this token and uses the shared store (or, with sharedStore
   * false, the default store on its own disk).
   */
  async startAgent(token: string, opts: { sharedStore?: boolean } = {}): Promise<AgentProcess> {
    const { agent, hostId } = await startRegisteredAgent(this.api, this.cp.url, {
      token,
      env: opts.sharedStore === false ? {} : this.s3.env(this.relay.port),
    });
    this.agents.push(agent);
    this.hostOf.set(agent, hostId);
    return agent;
  }

  waitOnline(count: number): Promise<void> {
    return waitRegisteredOnline(this.api, count, 120_000);
  }

  /** Destroys what is left, then stops the agents, the control plane and the store. */
  dispose(): Promise<void> {
    return closeFleet({
      cp: this.cp,
      api: this.api,
      agents: this.agents,
      dataDir: this.dataDir,
      finally: async () => {
        await this.relay.close();
        await this.s3.close();
      },
    });
  }
}
