// Host operations on two real registered agents (each with its own slot: pool, prefix, nft
// table, data dir): drain and undrain, delete (409 listing the sandboxes, then force), and an
// agent that outlives its control plane: the control plane stops, the agent pauses its
// sandboxes after its grace period, and the control plane, back on the same database and
// address, reconciles them to paused; they resume with their files.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOST_DRAIN_NOTE } from "@wrenn/contract";
import {
  type ControlPlane,
  type ControlPlaneConfig,
  startControlPlane,
} from "@wrenn/control-plane";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";
import { SandboxState } from "@wrenn/proto/hostagent";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { AgentProcess, freePort } from "../harness/agent-process.js";
import { adminCall } from "../harness/fleet-stack.js";
import { waitFor } from "../harness/wait.js";

interface HostRow {
  id: string;
  status: string;
  drained: boolean;
}

describe("host drain, delete, and an agent that outlives its control plane", () => {
  let cp: ControlPlane | undefined;
  let config: ControlPlaneConfig;
  let dataDir: string;
  let a: AgentProcess;
  let b: AgentProcess;
  let hostA: string;
  let hostB: string;
  const agents: AgentProcess[] = [];

  const call = (method: string, path: string, body?: unknown) =>
    adminCall(cp!.url, method, path, body);

  const hosts = async () => ((await call("GET", "/v1/hosts")).body as { hosts: HostRow[] }).hosts;
  const sandbox = async (id: string) =>
    (await call("GET", `/v1/sandboxes/${id}`)).body as { hostId: string; state: string };
  const cli = async (args: string[]) =>
    wrenn(args, {
      env: await isolatedEnv({ WRENN_API_URL: cp!.url, WRENN_API_KEY: TEST_ADMIN_KEY }),
    });

  async function startAgent(): Promise<[AgentProcess, string]> {
    const token = (await call("POST", "/v1/hosts/tokens", {})).body.token as string;
    const agent = await AgentProcess.start({
      poolSize: 0,
      env: {
        WRENN_CONTROL_PLANE_URL: cp!.url,
        WRENN_REGISTRATION_TOKEN: token,
        WRENN_HEARTBEAT_INTERVAL_MS: "500",
        WRENN_CONTROL_PLANE_GRACE_S: "3",
      },
    });
    agents.push(agent);
    const stored = JSON.parse(await readFile(join(agent.dataDir, "registration.json"), "utf8"));
    return [agent, stored.hostId as string];
  }

  async function create(): Promise<{ id: string; hostId: string }> {
    const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; hostId: string };
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wrenn-e2e-host-ops-"));
    config = {
      host: "127.0.0.1",
      // Fixed: the agents come back to the control plane at the address they registered with.
      port: await freePort(),
      dataDir,
      apiKey: TEST_ADMIN_KEY,
      // No configured agent listens here: every host of this control plane registered.
      agentUrl: `http://127.0.0.1:${await freePort()}`,
      logLevel: process.env.WRENN_TEST_LOG ?? "silent",
      lifecycleIntervalMs: 500,
      hostMonitorIntervalMs: 500,
      backgroundLoops: true,
      schedulerPolicy: "round-robin",
      // Loose: on a loaded machine a heartbeat can be late by seconds, and a host marked
      // unreachable would turn the sandboxes under test missing.
      hostSilenceSeconds: 20,
    };
    cp = await startControlPlane(config, {
      logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }),
    });
    [a, hostA] = await startAgent();
    [b, hostB] = await startAgent();
    await waitFor(
      async () => (await hosts()).filter((h) => h.status === "online").length === 2,
      120_000,
      "both registered hosts online",
    );
  }, 300_000);

  afterAll(async () => {
    try {
      if (cp) {
        const rows = await cp.db.query<{ id: string }>(
          "SELECT id FROM sandboxes WHERE state <> 'stopped'",
        );
        for (const row of rows.rows) await call("DELETE", `/v1/sandboxes/${row.id}`);
      }
    } finally {
      for (const agent of agents) await agent.dispose();
      await cp?.close();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  test("drain (CLI and API, idempotent) sends creates elsewhere; delete is 409 listing the sandboxes, force destroys them, and the agent is told to register again", async () => {
    const drained = await cli(["hosts", "drain", hostA]);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toContain(HOST_DRAIN_NOTE);
    const again = await call("POST", `/v1/hosts/${hostA}/drain`);
    expect(again.status, again.text).toBe(200);
    expect(again.body.host).toMatchObject({ id: hostA, drained: true, status: "online" });
    expect((await hosts()).find((h) => h.id === hostA)?.drained).toBe(true);
    const ls = await cli(["hosts", "ls"]);
    expect(ls.stdout).toContain("drained");
    for (let i = 0; i < 2; i++) expect((await create()).hostId).toBe(hostB);
    expect((await cli(["hosts", "undrain", hostA])).code).toBe(0);

    expect((await call("POST", `/v1/hosts/${hostB}/drain`)).status).toBe(200);
    const onA = await create();
    expect(onA.hostId).toBe(hostA);
    expect((await call("POST", `/v1/hosts/${hostB}/undrain`)).status).toBe(200);

    const unknown = await cli(["hosts", "rm", "host-00000000"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("host host-00000000 not found");
    const unknownApi = await call("DELETE", "/v1/hosts/host-00000000");
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.body.error.code).toBe("host_not_found");
    const inUse = await call("DELETE", `/v1/hosts/${hostA}`);
    expect(inUse.status, inUse.text).toBe(409);
    expect(inUse.body.error.code).toBe("host_in_use");
    const refused = await cli(["hosts", "rm", hostA]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`holds 1 sandbox(es): ${onA.id}`);
    expect((await sandbox(onA.id)).state).toBe("running");
    const still = await a.client.getSandbox({ sandboxId: onA.id });
    expect(still.sandbox?.state).toBe(SandboxState.RUNNING);

    const forced = await cli(["hosts", "rm", hostA, "--force", "--json"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ id: hostA, destroyedSandboxes: [onA.id] });
    expect((await a.client.listSandboxes({})).sandboxes.map((s) => s.sandboxId)).not.toContain(
      onA.id,
    );
    const row = await cp!.db.query<{ state: string; stop_reason: string }>(
      "SELECT state, stop_reason FROM sandboxes WHERE id = $1",
      [onA.id],
    );
    expect(row.rows[0]).toEqual({ state: "stopped", stop_reason: "destroyed" });
    const left = (await hosts()).map((h) => h.id);
    expect(left).not.toContain(hostA);
    expect(left).toContain(hostB);
    await waitFor(
      async () => a.output.includes("this host was deleted from the control plane"),
      60_000,
      "the deleted host's agent says what to do",
    );
    // Nothing else went: the other host's sandboxes run on.
    const onB = await cp!.db.query<{ state: string }>(
      "SELECT state FROM sandboxes WHERE host_id = $1",
      [hostB],
    );
    expect(onB.rows.map((r) => r.state)).toEqual(["running", "running"]);
    const ended = await cp!.db.query<{ id: string }>(
      "SELECT id FROM sandboxes WHERE host_id = $1",
      [hostB],
    );
    for (const { id } of ended.rows) await call("DELETE", `/v1/sandboxes/${id}`);
  }, 600_000);

  test("the control plane gone past the grace period: the agent pauses its sandboxes; back, they read paused and resume with their files", async () => {
    const s = await create();
    expect(s.hostId).toBe(hostB);
    const wrote = await call("POST", `/v1/sandboxes/${s.id}/exec`, {
      command: "echo kept > /tmp/kept && cat /tmp/kept",
    });
    expect(wrote.status, wrote.text).toBe(200);

    await cp!.close();
    cp = undefined;
    await waitFor(
      async () => {
        const got = await b.client.getSandbox({ sandboxId: s.id });
        return got.sandbox?.state === SandboxState.PAUSED;
      },
      180_000,
      "the agent paused its sandbox without its control plane",
    );
    expect(b.output).toContain("pausing every sandbox");

    cp = await startControlPlane(config, {
      logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }),
    });
    await waitFor(
      async () => (await sandbox(s.id)).state === "paused",
      120_000,
      "the record reconciled to paused",
    );
    const resumed = await call("POST", `/v1/sandboxes/${s.id}/resume`, {});
    expect(resumed.status, resumed.text).toBe(200);
    expect((await sandbox(s.id)).state).toBe("running");
    const read = await call("POST", `/v1/sandboxes/${s.id}/exec`, { command: "cat /tmp/kept" });
    expect(read.status, read.text).toBe(200);
    expect(read.body.stdout).toBe("kept\n");
  }, 600_000);
});
