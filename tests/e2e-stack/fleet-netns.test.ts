// Three real host agents, each in a network namespace of its own as on a machine of its own,
// joined to the control plane's side by a veth with real addresses, over TLS both ways: each
// agent listens on its link's address with a certificate for it (the control plane trusts
// them, agentCa), and the control plane listens on its own address with a certificate the
// agents trust (WRENN_CONTROL_PLANE_CA): registration, heartbeats and refreshes cross the veth
// on https. They join by token and share one S3 protocol server (s3rver on loopback, behind a
// relay on the control plane's address that can cut transfers). One stack for every fleet
// case: hosts list, refused tokens, spread, hibernate on one host and resume on another, fork
// ×10, snapshot then create on another host (then woken from a pause by proxy traffic), drain
// and delete, the control plane gone past the agents' grace period, and a kill -9 with
// reconciliation (the host silence is long until that last one: a heartbeat late on a loaded
// machine must not make a host unreachable mid-case).
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
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
import { FaultRelay, TestS3 } from "../../apps/host-agent/src/artifacts/store-test-kit.js";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { AgentProcess, freePort } from "../harness/agent-process.js";
import { type FleetHost, FleetNetwork } from "../harness/host-netns.js";
import {
  adminApi,
  closeFleet,
  fleetConfig,
  type HostRow,
  newToken,
  startRegisteredAgent,
  waitRegisteredOnline,
} from "../harness/registered-fleet.js";
import { waitFor } from "../harness/wait.js";

// The agent's port inside its own namespace: nothing else listens there.
const AGENT_PORT = 7443;
const COUNTER =
  "setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > /home/user/counter; sleep 0.2; done' </dev/null >/dev/null 2>&1 &";

const sh = async (command: string, ...args: string[]) =>
  (await promisify(execFile)(command, args)).stdout;

describe("a fleet of three agents, each in its own network namespace, over TLS both ways", () => {
  let cp: ControlPlane | undefined;
  let config: ControlPlaneConfig;
  let dataDir: string;
  let fleet: FleetNetwork | undefined;
  let s3: TestS3 | undefined;
  let relay: FaultRelay | undefined;
  const agents: AgentProcess[] = [];
  const hostOf = new Map<AgentProcess, string>();
  const machineOf = new Map<AgentProcess, FleetHost>();

  const api = adminApi(
    () => cp!.url,
    () => fleet!.controlPlaneTls.pem,
  );
  const { call } = api;
  const hosts = () => api.hosts<HostRow & { drained: boolean }>();
  const sandboxOf = async (id: string) =>
    (await call("GET", `/v1/sandboxes/${id}`)).body as { hostId: string; state: string };
  const run = async (id: string, command: string) => {
    const r = await call("POST", `/v1/sandboxes/${id}/exec`, { command });
    expect(r.status, r.text).toBe(200);
    return (r.body.stdout as string).trim();
  };
  const counter = async (id: string) => Number(await run(id, "cat /home/user/counter"));
  /** The counter started before is the same process, counting on (a new one starts at 1). */
  const counterGoesOn = async (id: string) => {
    const at = await counter(id);
    expect(at).toBeGreaterThan(5);
    await waitFor(async () => (await counter(id)) > at, 60_000, "the counter moving on");
  };
  const create = async (body: Record<string, unknown> = {}) => {
    const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600, ...body });
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; hostId: string };
  };
  const remove = async (ids: readonly string[]) => {
    for (const id of ids) await call("DELETE", `/v1/sandboxes/${id}`);
  };
  const cli = async (args: string[]) =>
    wrenn(args, {
      env: await isolatedEnv({
        WRENN_API_URL: cp!.url,
        WRENN_API_KEY: TEST_ADMIN_KEY,
        NODE_EXTRA_CA_CERTS: fleet!.controlPlaneTls.cert,
      }),
    });

  async function startAgent(machine: FleetHost): Promise<void> {
    const { agent, hostId } = await startRegisteredAgent(api, cp!.url, {
      netns: machine.netns,
      listenHost: machine.address,
      tls: machine.tls,
      port: AGENT_PORT,
      env: {
        WRENN_CONTROL_PLANE_CA: fleet!.controlPlaneTls.cert,
        // Short, for the case with the control plane gone; a heartbeat counts as failed only
        // when refused or unanswered for 30 s, never merely late.
        WRENN_CONTROL_PLANE_GRACE_S: "3",
        ...s3!.env(relay!.port, fleet!.controlPlaneAddress),
        // A cut transfer fails at once whatever this is; a slow answer on a loaded machine
        // (load 24 on two cores) must not read as a store that is down.
        WRENN_S3_REQUEST_TIMEOUT_MS: "60000",
      },
    });
    agents.push(agent);
    machineOf.set(agent, machine);
    hostOf.set(agent, hostId);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wrenn-e2e-fleet-netns-"));
    fleet = await FleetNetwork.create(dataDir, 3);
    s3 = await TestS3.start();
    // The store, seen from the hosts' namespaces: they route only to the control plane's address.
    relay = await FaultRelay.start(s3.port, fleet.controlPlaneAddress);
    const tls = fleet.controlPlaneTls;
    config = await fleetConfig(dataDir, {
      // Reachable from every host's namespace (through its veth), and nowhere else; a fixed
      // port, as the agents come back to the address they registered with after a restart.
      host: fleet.controlPlaneAddress,
      port: await freePort(),
      tls: { cert: await readFile(tls.cert, "utf8"), key: await readFile(tls.key, "utf8") },
      agentCa: fleet.caBundle,
      schedulerPolicy: "round-robin",
      // Seen at a load average of 28: an agent restoring ten forks went over 60 s without an
      // accepted heartbeat, and its host read unreachable mid-fork (the source "missing").
      hostSilenceSeconds: 300,
    });
    cp = await startControlPlane(config, {
      logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }),
    });
    expect(cp.url).toBe(`https://${fleet.controlPlaneAddress}:${config.port}`);
    // One at a time: three agents starting at once on two busy cores could outlast the
    // harness's bound on one start.
    for (const machine of fleet.hosts) await startAgent(machine);
    await waitRegisteredOnline(api, 3, 180_000);
  }, 400_000);

  afterAll(
    () =>
      closeFleet({
        cp,
        api,
        agents,
        dataDir,
        finally: async () => {
          await relay?.close();
          await s3?.close();
          await fleet?.close();
        },
      }),
    300_000,
  );

  test("all three are online at their https addresses on their links (API and CLI)", async () => {
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
    const ls = await cli(["hosts", "ls", "--json"]);
    expect(ls.code, ls.stderr).toBe(0);
    const listed = JSON.parse(ls.stdout) as HostRow[];
    for (const id of hostOf.values()) {
      expect(listed.find((h) => h.id === id)).toMatchObject({
        status: "online",
        kind: "registered",
      });
    }
  });

  test("a spent registration token and a wrong one are refused, and so is a plain http control plane beyond loopback: the agent does not start", async () => {
    const spent = await newToken(api);
    const first = await call("POST", "/v1/hosts/register", {
      token: spent,
      url: "http://127.0.0.1:1",
    });
    expect(first.status, first.text).toBe(201);
    const again = await call("POST", "/v1/hosts/register", {
      token: spent,
      url: "http://127.0.0.1:2",
    });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("invalid_registration_token");
    // The host that registered at port 1 never beats: remove it so placement ignores it.
    await cp!.db.query("DELETE FROM hosts WHERE id = $1", [first.body.hostId]);

    // Its own data dir: a start that fails leaves no AgentProcess to clean up after.
    const refusedDir = await mkdtemp(join(tmpdir(), "wrenn-agent-test-"));
    try {
      const start = (env: Record<string, string>) =>
        AgentProcess.start({
          dataDir: refusedDir,
          env: {
            WRENN_CONTROL_PLANE_CA: fleet!.controlPlaneTls.cert,
            WRENN_REGISTRATION_TOKEN: "wrht_wrong",
            ...env,
          },
        });
      await expect(start({ WRENN_CONTROL_PLANE_URL: cp!.url })).rejects.toThrow(
        /invalid_registration_token/,
      );
      await expect(
        start({ WRENN_CONTROL_PLANE_URL: cp!.url.replace("https:", "http:") }),
      ).rejects.toThrow(/plain http to another machine/);
    } finally {
      await rm(refusedDir, { recursive: true, force: true });
    }
  }, 180_000);

  test("creates spread over the three, a command runs on each, and each agent's networking stays in its namespace", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create()).id);
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
    await remove(ids);
  }, 600_000);

  test("hibernate on one host, resume on another: files and a running process intact; a store cut mid-upload leaves it paused, and a retry works", async () => {
    const { id } = await create();
    const from = (await sandboxOf(id)).hostId;
    await run(id, "echo kept across hosts > /home/user/note.txt");
    await run(id, COUNTER);
    await waitFor(async () => (await counter(id)) > 5, 60_000, "counting");
    const paused = await call("POST", `/v1/sandboxes/${id}/pause`, {});
    expect(paused.status, paused.text).toBe(200);
    expect((await sandboxOf(id)).state).toBe("paused");

    // Only paused sandboxes hibernate; a running one is refused with nothing changed.
    const other = await create();
    const refused = await call("POST", `/v1/sandboxes/${other.id}/hibernate`, {});
    expect(refused.status, refused.text).toBe(409);
    expect(refused.body.error.code).toBe("invalid_state");
    expect((await sandboxOf(other.id)).state).toBe("running");

    // The store cuts every transfer after 1 MiB: the upload fails, the sandbox stays paused
    // on its host, and nothing under its name reads as complete.
    relay!.mode = { kind: "cut-after", bytes: 1024 * 1024 };
    const cut = await call("POST", `/v1/sandboxes/${id}/hibernate`, {});
    relay!.mode = { kind: "pass" };
    expect(cut.status, cut.text).toBe(503);
    expect(cut.body.error.code).toBe("store_unavailable");
    expect(await sandboxOf(id)).toMatchObject({ state: "paused", hostId: from });

    const hibernated = await call("POST", `/v1/sandboxes/${id}/hibernate`, {});
    expect(hibernated.status, hibernated.text).toBe(200);
    expect(hibernated.body.state).toBe("hibernated");
    const info = await cli(["sandbox", "info", id, "--json"]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).state).toBe("hibernated");

    // The host it left takes no new placements: the resume goes to another one, over the store.
    expect((await call("POST", `/v1/hosts/${from}/drain`, {})).status).toBe(200);
    try {
      const resumed = await call("POST", `/v1/sandboxes/${id}/resume`, {});
      expect(resumed.status, resumed.text).toBe(200);
    } finally {
      await call("POST", `/v1/hosts/${from}/undrain`, {});
    }
    const moved = await sandboxOf(id);
    expect(moved.state).toBe("running");
    expect(moved.hostId).not.toBe(from);
    expect(await run(id, "cat /home/user/note.txt")).toBe("kept across hosts");
    await counterGoesOn(id);
    await remove([id, other.id]);
  }, 600_000);

  test("fork ×10: the source keeps running with its id; all ten run a command and see its file", async () => {
    const source = await create();
    const made: string[] = [source.id];
    try {
      await run(source.id, "echo from the source > /home/user/note.txt");
      const forked = await call("POST", `/v1/sandboxes/${source.id}/fork`, {
        count: 10,
        timeoutSeconds: 3600,
      });
      expect(forked.status, forked.text).toBe(201);
      const outcomes = forked.body.forks as Array<{ sandbox?: { id: string }; error?: unknown }>;
      made.push(...outcomes.flatMap((o) => (o.sandbox ? [o.sandbox.id] : [])));
      expect(outcomes).toHaveLength(10);
      expect(outcomes.filter((o) => o.error)).toEqual([]);
      const ids = made.slice(1);
      expect(new Set(ids).size).toBe(10);
      expect(ids).not.toContain(source.id);
      expect(await sandboxOf(source.id)).toMatchObject({
        state: "running",
        hostId: source.hostId,
      });
      for (const id of ids) {
        expect(await run(id, "cat /home/user/note.txt")).toBe("from the source");
      }
      expect(await run(source.id, "cat /home/user/note.txt")).toBe("from the source");
    } finally {
      // Ten sandboxes left behind would weigh on every case after this one.
      await remove(made);
    }
  }, 900_000);

  test("snapshot then create from it: once stored it is made on another host (its own drained), files and a running process intact; traffic through the proxy wakes it from a pause (autoResume)", async () => {
    const source = await create();
    await run(source.id, "echo snapped > /home/user/note.txt");
    await run(source.id, COUNTER);
    await waitFor(async () => (await counter(source.id)) > 5, 60_000, "counting");
    const snap = await call("POST", `/v1/sandboxes/${source.id}/snapshots`, { name: "fleet" });
    expect(snap.status, snap.text).toBe(201);
    expect(await sandboxOf(source.id)).toMatchObject({ state: "running" });
    const snapId = snap.body.id as string;
    // Its host reported the upload to the shared store done.
    const stored = await cp!.db.query<{ stored_at: Date | null }>(
      "SELECT stored_at FROM snapshots WHERE id = $1",
      [snapId],
    );
    expect(stored.rows[0]?.stored_at).not.toBeNull();
    // And says so, when made and when listed.
    expect(snap.body.stored).toBe(true);
    const listed = await call("GET", `/v1/snapshots?name=fleet`);
    expect(listed.body.snapshots).toMatchObject([{ id: snapId, stored: true }]);
    // Its host takes no new sandboxes: one made from it goes to another, which downloads it.
    const drained = await call("POST", `/v1/hosts/${source.hostId}/drain`);
    expect(drained.status, drained.text).toBe(200);
    let made: { id: string; hostId: string };
    try {
      made = await create({ template: snapId, autoPause: true, autoResume: true });
    } finally {
      await call("POST", `/v1/hosts/${source.hostId}/undrain`);
    }
    expect(made.hostId).not.toBe(source.hostId);
    expect(await run(made.id, "cat /home/user/note.txt")).toBe("snapped");
    await counterGoesOn(made.id);

    // autoResume in the fleet: a server in it, paused (in memory: it listens), then a request
    // through the control plane's proxy to its port wakes it on its host and is answered.
    await run(
      made.id,
      `mkdir -p /tmp/www && echo '{"served":"fleet"}' > /tmp/www/x.json && cd /tmp/www && setsid python3 -m http.server 8000 </dev/null >/dev/null 2>&1 &`,
    );
    const page = `/v1/sandboxes/${made.id}/ports/8000/x.json`;
    await waitFor(async () => (await call("GET", page)).status === 200, 60_000, "its server");
    const paused = await call("POST", `/v1/sandboxes/${made.id}/pause`);
    expect(paused.status, paused.text).toBe(200);
    expect(await sandboxOf(made.id)).toMatchObject({ state: "paused" });
    const woken = await call("GET", page);
    expect(woken.status, woken.text).toBe(200);
    expect(woken.body).toEqual({ served: "fleet" });
    expect(await sandboxOf(made.id)).toMatchObject({ state: "running", hostId: made.hostId });

    await remove([made.id, source.id]);
    const deleted = await call("DELETE", `/v1/snapshots/${snapId}`);
    expect(deleted.status, deleted.text).toBe(204);
    // Gone from the store, and from the host that downloaded it.
    expect(
      await s3!.store(s3!.port, { prefix: "" }).head({ kind: "snapshot", id: snapId }),
    ).toBeUndefined();
    const downloader = agents.find((a) => hostOf.get(a) === made.hostId)!;
    expect(await readdir(join(downloader.dataDir, "snapshots"))).not.toContain(snapId);
  }, 600_000);

  test("drain (CLI and API, idempotent) sends creates elsewhere; delete is 409 listing the sandboxes, force destroys them, and the agent is told to register again", async () => {
    const gone = agents[2]!;
    const hostC = hostOf.get(gone)!;
    const drained = await cli(["hosts", "drain", hostC]);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toContain(HOST_DRAIN_NOTE);
    const again = await call("POST", `/v1/hosts/${hostC}/drain`);
    expect(again.status, again.text).toBe(200);
    expect(again.body.host).toMatchObject({ id: hostC, drained: true, status: "online" });
    expect((await cli(["hosts", "ls"])).stdout).toContain("drained");
    const elsewhere = [await create(), await create()];
    for (const s of elsewhere) expect(s.hostId).not.toBe(hostC);
    await remove(elsewhere.map((s) => s.id));
    expect((await cli(["hosts", "undrain", hostC])).code).toBe(0);

    // The other two drained: the create goes to C.
    const others = [...hostOf.values()].filter((h) => h !== hostC);
    for (const h of others) expect((await call("POST", `/v1/hosts/${h}/drain`)).status).toBe(200);
    const onC = await create();
    for (const h of others) expect((await call("POST", `/v1/hosts/${h}/undrain`)).status).toBe(200);
    expect(onC.hostId).toBe(hostC);

    const unknown = await cli(["hosts", "rm", "host-00000000"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("host host-00000000 not found");
    const unknownApi = await call("DELETE", "/v1/hosts/host-00000000");
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.body.error.code).toBe("host_not_found");
    const inUse = await call("DELETE", `/v1/hosts/${hostC}`);
    expect(inUse.status, inUse.text).toBe(409);
    expect(inUse.body.error.code).toBe("host_in_use");
    const refused = await cli(["hosts", "rm", hostC]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`holds 1 sandbox(es): ${onC.id}`);
    expect((await sandboxOf(onC.id)).state).toBe("running");
    expect((await gone.client.getSandbox({ sandboxId: onC.id })).sandbox?.state).toBe(
      SandboxState.RUNNING,
    );

    const forced = await cli(["hosts", "rm", hostC, "--force", "--json"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ id: hostC, destroyedSandboxes: [onC.id] });
    expect((await gone.client.listSandboxes({})).sandboxes.map((s) => s.sandboxId)).not.toContain(
      onC.id,
    );
    const row = await cp!.db.query<{ state: string; stop_reason: string }>(
      "SELECT state, stop_reason FROM sandboxes WHERE id = $1",
      [onC.id],
    );
    expect(row.rows[0]).toEqual({ state: "stopped", stop_reason: "destroyed" });
    const left = (await hosts()).map((h) => h.id);
    expect(left).not.toContain(hostC);
    for (const h of others) expect(left).toContain(h);
    await waitFor(
      async () => gone.output.includes("this host was deleted from the control plane"),
      60_000,
      "the deleted host's agent says what to do",
    );
    hostOf.delete(gone);
  }, 600_000);

  test("the control plane gone past the grace period: the agent pauses its sandboxes; back, they read paused and resume with their files", async () => {
    const s = await create();
    const holder = agents.find((a) => hostOf.get(a) === s.hostId)!;
    await run(s.id, "echo kept > /tmp/kept");

    await cp!.close();
    cp = undefined;
    await waitFor(
      async () =>
        (await holder.client.getSandbox({ sandboxId: s.id })).sandbox?.state ===
        SandboxState.PAUSED,
      180_000,
      "the agent paused its sandbox without its control plane",
    );
    expect(holder.output).toContain("pausing every sandbox");

    // Back on the same address and database. From here a host is silent after 10 s, for the
    // kill -9 below to be seen (still far above the half-second heartbeats).
    config = { ...config, hostSilenceSeconds: 10 };
    cp = await startControlPlane(config, {
      logger: pino({ level: process.env.WRENN_TEST_LOG ?? "silent" }),
    });
    await waitFor(
      async () => (await sandboxOf(s.id)).state === "paused",
      120_000,
      "the record reconciled to paused",
    );
    const resumed = await call("POST", `/v1/sandboxes/${s.id}/resume`, {});
    expect(resumed.status, resumed.text).toBe(200);
    expect((await sandboxOf(s.id)).state).toBe("running");
    expect(await run(s.id, "cat /tmp/kept")).toBe("kept");
    await remove([s.id]);
  }, 600_000);

  test("kill -9 of one agent: unreachable, its sandbox missing, creates go elsewhere; back: online and reconciled", async () => {
    const [victim, survivor] = [...hostOf.keys()] as [AgentProcess, AgentProcess];
    const lost = hostOf.get(victim)!;
    // Placed on the victim: the survivor drained for the create.
    expect((await call("POST", `/v1/hosts/${hostOf.get(survivor)}/drain`)).status).toBe(200);
    const onLost = await create();
    expect((await call("POST", `/v1/hosts/${hostOf.get(survivor)}/undrain`)).status).toBe(200);
    expect(onLost.hostId).toBe(lost);
    await run(onLost.id, "echo kept > /home/user/note.txt");

    await victim.kill9();
    await waitFor(
      async () => (await hosts()).find((h) => h.id === lost)?.status === "unreachable",
      90_000,
      "the killed agent's host unreachable",
    );
    await waitFor(
      async () => (await sandboxOf(onLost.id)).state === "missing",
      60_000,
      "its sandbox missing",
    );
    const meanwhile = await create();
    expect(meanwhile.hostId).toBe(hostOf.get(survivor));

    // The same namespace, data dir and address: its stored host id, and its sandbox adopted.
    await victim.launch(AGENT_PORT);
    await waitFor(
      async () => (await hosts()).find((h) => h.id === lost)?.status === "online",
      120_000,
      "the agent's host online again",
    );
    await waitFor(
      async () => (await sandboxOf(onLost.id)).state === "running",
      120_000,
      "its sandbox running again",
    );
    expect(await sandboxOf(onLost.id)).toMatchObject({ hostId: lost });
    expect(await run(onLost.id, "cat /home/user/note.txt")).toBe("kept");
    await remove([onLost.id, meanwhile.id]);
  }, 900_000);
});
