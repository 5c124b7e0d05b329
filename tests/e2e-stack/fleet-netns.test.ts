// Three real host agents, each in a network namespace of its own as on a machine of its own,
// joined to the control plane's side by a veth with real addresses: each listens on its link's
// address (not loopback) with a real TLS certificate for that address, which the control plane
// verifies (agentCa), and joins by a registration token. Creates spread over the three, a
// command runs in a sandbox on each (the control plane's RPCs and its envd traffic both cross
// the veth over TLS), and a killed agent is marked unreachable, then reconciled on its return.
import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type ControlPlane, startControlPlane } from "@wrenn/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AgentProcess } from "../harness/agent-process.js";
import { type FleetHost, FleetNetwork } from "../harness/host-netns.js";
import {
  adminApi,
  closeFleet,
  fleetConfig,
  type HostRow,
  startRegisteredAgent,
  waitRegisteredOnline,
} from "../harness/registered-fleet.js";
import { waitFor } from "../harness/wait.js";

// The agent's port inside its own namespace: nothing else listens there.
const AGENT_PORT = 7443;

const sh = async (command: string, ...args: string[]) =>
  (await promisify(execFile)(command, args)).stdout;

describe("a fleet of three agents, each in its own network namespace, over TLS", () => {
  let cp: ControlPlane;
  let dataDir: string;
  let fleet: FleetNetwork | undefined;
  const agents: AgentProcess[] = [];
  const hostOf = new Map<AgentProcess, string>();
  const machineOf = new Map<AgentProcess, FleetHost>();

  const api = adminApi(() => cp.url);
  const { call } = api;
  const hosts = () => api.hosts<HostRow>();
  const sandboxOf = async (id: string) =>
    (await call("GET", `/v1/sandboxes/${id}`)).body as { hostId: string; state: string };
  const run = async (id: string, command: string) => {
    const r = await call("POST", `/v1/sandboxes/${id}/exec`, { command });
    expect(r.status, r.text).toBe(200);
    return (r.body.stdout as string).trim();
  };

  async function startAgent(machine: FleetHost): Promise<void> {
    const { agent, hostId } = await startRegisteredAgent(api, cp.url, {
      netns: machine.netns,
      listenHost: machine.address,
      tls: machine.tls,
      port: AGENT_PORT,
    });
    agents.push(agent);
    machineOf.set(agent, machine);
    hostOf.set(agent, hostId);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wrenn-e2e-fleet-netns-"));
    fleet = await FleetNetwork.create(dataDir, 3);
    cp = await startControlPlane(
      await fleetConfig(dataDir, {
        // Reachable from every host's namespace (through its veth), and nowhere else.
        host: fleet.controlPlaneAddress,
        agentCa: fleet.caBundle,
        schedulerPolicy: "round-robin",
        hostSilenceSeconds: 3,
      }),
      { logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }) },
    );
    // One at a time: three agents starting at once on two busy cores could outlast the
    // harness's bound on one start.
    for (const machine of fleet.hosts) await startAgent(machine);
    await waitRegisteredOnline(api, 3, 180_000);
  }, 400_000);

  afterAll(
    () => closeFleet({ cp, api, agents, dataDir, finally: async () => fleet?.close() }),
    300_000,
  );

  test("all three are online in /v1/hosts at their https addresses on their links", async () => {
    const registered = (await hosts()).filter((h) => h.kind === "registered");
    expect(registered.map((h) => h.id).sort()).toEqual([...hostOf.values()].sort());
    for (const agent of agents) {
      const row = registered.find((h) => h.id === hostOf.get(agent));
      expect(row).toMatchObject({
        status: "online",
        url: `https://${machineOf.get(agent)!.address}:${AGENT_PORT}`,
      });
      expect(row?.capacity?.total.memoryMb).toBeGreaterThan(0);
    }
  });

  test("creates spread over the three; a command runs on each; kill -9 of one: unreachable, its sandbox missing; back: online and reconciled", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
      expect(r.status, r.text).toBe(201);
      ids.push(r.body.id);
    }
    const placed = await Promise.all(ids.map(async (id) => (await sandboxOf(id)).hostId));
    expect([...placed].sort()).toEqual([...hostOf.values()].sort());
    for (const [i, id] of ids.entries()) {
      expect(await run(id, `echo sandbox ${i}`)).toBe(`sandbox ${i}`);
    }
    // Each agent made its sandbox's link and its nftables table in its own namespace: none of
    // them is in the root namespace.
    const rootLinks = await sh("ip", "-o", "link", "show");
    const rootTables = await sh("nft", "list", "tables");
    for (const agent of agents) {
      const netns = machineOf.get(agent)!.netns;
      expect(await sh("ip", "-n", netns, "-o", "link", "show")).toContain(
        `: ${agent.networkPrefix}`,
      );
      expect(rootLinks).not.toContain(`: ${agent.networkPrefix}`);
      expect(await sh("ip", "netns", "exec", netns, "nft", "list", "tables")).toContain(
        `inet ${agent.networkTable}\n`,
      );
      expect(rootTables).not.toContain(`inet ${agent.networkTable}\n`);
    }

    const victim = agents[0]!;
    const lost = hostOf.get(victim)!;
    const onLost = ids[placed.indexOf(lost)]!;
    await run(onLost, "echo kept > /home/user/note.txt");
    await victim.kill9();
    await waitFor(
      async () => (await hosts()).find((h) => h.id === lost)?.status === "unreachable",
      90_000,
      "the killed agent's host unreachable",
    );
    await waitFor(
      async () => (await sandboxOf(onLost)).state === "missing",
      60_000,
      "its sandbox missing",
    );
    // Meanwhile creates go to the two hosts left.
    for (let i = 0; i < 2; i++) {
      const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
      expect(r.status, r.text).toBe(201);
      expect((await sandboxOf(r.body.id)).hostId).not.toBe(lost);
    }

    // The same namespace, data dir and address: its stored host id, and its sandbox adopted.
    await victim.launch(AGENT_PORT);
    await waitFor(
      async () => (await hosts()).find((h) => h.id === lost)?.status === "online",
      120_000,
      "the agent's host online again",
    );
    await waitFor(
      async () => (await sandboxOf(onLost)).state === "running",
      120_000,
      "its sandbox running again",
    );
    expect(await sandboxOf(onLost)).toMatchObject({ hostId: lost });
    expect(await run(onLost, "cat /home/user/note.txt")).toBe("kept");
  }, 900_000);
});
