// Two real host agents (each with its own slot: pool, prefix, nft table, data dir) join one
// control plane with registration tokens; placement spreads creates over them, a killed agent
// becomes unreachable with its sandboxes missing, and coming back reconciles them. Both share
// one S3 protocol server (s3rver on loopback, behind a relay that can cut transfers) as their
// artifact store: a sandbox hibernated on one host resumes on the other.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { AgentProcess } from "../harness/agent-process.js";
import { FleetStack, type FleetHostRow as HostRow } from "../harness/fleet-stack.js";
import { waitFor } from "../harness/wait.js";

describe("a fleet of two registered agents", () => {
  let fleet: FleetStack;
  const call = (method: string, path: string, body?: unknown) => fleet.call(method, path, body);
  const hosts = () => fleet.hosts();
  const sandboxHost = async (id: string) =>
    (await call("GET", `/v1/sandboxes/${id}`)).body as { hostId: string; state: string };

  beforeAll(async () => {
    fleet = await FleetStack.start();
    await fleet.startAgent(await fleet.newToken());
    // The second token as an admin gets it from the CLI.
    const cliEnv = await isolatedEnv({ WRENN_API_URL: fleet.url, WRENN_API_KEY: TEST_ADMIN_KEY });
    const token = await wrenn(["hosts", "token"], { env: cliEnv });
    expect(token.code, token.stderr).toBe(0);
    await fleet.startAgent(token.stdout.trim());
    await fleet.waitOnline(2);
  }, 300_000);

  afterAll(async () => {
    await fleet?.dispose();
  }, 300_000);

  test("hosts list both registered agents with their state, capacity and use (API and CLI)", async () => {
    const registered = (await hosts()).filter((h) => h.kind === "registered");
    const cliEnv = await isolatedEnv({ WRENN_API_URL: fleet.url, WRENN_API_KEY: TEST_ADMIN_KEY });
    const ls = await wrenn(["hosts", "ls", "--json"], { env: cliEnv });
    expect(ls.code, ls.stderr).toBe(0);
    const listed = JSON.parse(ls.stdout) as HostRow[];
    for (const id of fleet.hostOf.values()) {
      expect(listed.find((h) => h.id === id)).toMatchObject({
        status: "online",
        kind: "registered",
      });
    }
    expect(registered.map((h) => h.id).sort()).toEqual([...fleet.hostOf.values()].sort());
    for (const h of registered) {
      expect(h.status).toBe("online");
      expect(h.capacity?.total.memoryMb).toBeGreaterThan(0);
    }
  });

  test("a spent registration token and a wrong one are refused: the agent does not start", async () => {
    const spent = await fleet.newToken();
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
    await fleet.cp.db.query("DELETE FROM hosts WHERE id = $1", [first.body.hostId]);

    // Its own data dir: a start that fails leaves no AgentProcess to clean up after.
    const refusedDir = await mkdtemp(join(tmpdir(), "wrenn-agent-test-"));
    try {
      await expect(
        AgentProcess.start({
          dataDir: refusedDir,
          env: {
            WRENN_CONTROL_PLANE_URL: fleet.url,
            WRENN_REGISTRATION_TOKEN: "wrht_wrong",
          },
        }),
      ).rejects.toThrow(/invalid_registration_token/);
    } finally {
      await rm(refusedDir, { recursive: true, force: true });
    }
  }, 120_000);

  test("creates spread over both; kill -9 of one: unreachable, its sandboxes missing, creates go to the other; back: reconciled", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
      expect(r.status, r.text).toBe(201);
      ids.push(r.body.id);
    }
    const placed = await Promise.all(ids.map(async (id) => (await sandboxHost(id)).hostId));
    const [a, b] = fleet.agents as [AgentProcess, AgentProcess];
    const hostA = fleet.hostOf.get(a)!;
    const hostB = fleet.hostOf.get(b)!;
    expect(placed.filter((h) => h === hostA)).toHaveLength(2);
    expect(placed.filter((h) => h === hostB)).toHaveLength(2);
    const onA = ids.filter((_, i) => placed[i] === hostA);

    await a.kill9();
    await waitFor(
      async () => (await hosts()).find((h) => h.id === hostA)?.status === "unreachable",
      60_000,
      "the killed agent's host unreachable",
    );
    await waitFor(
      async () => {
        const states = await Promise.all(onA.map(async (id) => (await sandboxHost(id)).state));
        return states.every((s) => s === "missing");
      },
      30_000,
      "its sandboxes missing",
    );
    for (let i = 0; i < 2; i++) {
      const r = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
      expect(r.status, r.text).toBe(201);
      expect((await sandboxHost(r.body.id)).hostId).toBe(hostB);
    }

    // The same data dir and address: the stored host id and tokens, and its sandboxes adopted.
    await a.launch(Number(new URL(a.url).port));
    await waitFor(
      async () => (await hosts()).find((h) => h.id === hostA)?.status === "online",
      120_000,
      "the agent's host online again",
    );
    await waitFor(
      async () => {
        const states = await Promise.all(onA.map(async (id) => (await sandboxHost(id)).state));
        return states.every((s) => s === "running");
      },
      120_000,
      "its sandboxes running again",
    );
    const exec = await call("POST", `/v1/sandboxes/${onA[0]}/exec`, { command: "echo back" });
    expect(exec.status, exec.text).toBe(200);
    expect(exec.body.stdout).toBe("back\n");
  }, 600_000);

  test("hibernate on one host, resume on the other: files and a running process intact; a store cut mid-upload leaves it paused, and a retry works", async () => {
    const created = await call("POST", "/v1/sandboxes", { timeoutSeconds: 3600 });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    const from = (await sandboxHost(id)).hostId;
    const to = [...fleet.hostOf.values()].find((h) => h !== from)!;
    const run = (command: string) => fleet.run(id, command);
    await run("echo kept across hosts > /home/user/note.txt");
    await fleet.startCounter(id);
    const paused = await call("POST", `/v1/sandboxes/${id}/pause`, {});
    expect(paused.status, paused.text).toBe(200);
    expect((await sandboxHost(id)).state).toBe("paused");

    // Only paused sandboxes hibernate; a running one is refused with nothing changed.
    const other = await call("POST", "/v1/sandboxes", { timeoutSeconds: 600 });
    expect(other.status, other.text).toBe(201);
    const refused = await call("POST", `/v1/sandboxes/${other.body.id}/hibernate`, {});
    expect(refused.status, refused.text).toBe(409);
    expect(refused.body.error.code).toBe("invalid_state");
    expect((await sandboxHost(other.body.id)).state).toBe("running");

    // The store cuts every transfer after 1 MiB: the upload fails, the sandbox stays paused
    // on its host, and nothing under its name reads as complete.
    fleet.relay.mode = { kind: "cut-after", bytes: 1024 * 1024 };
    const cut = await call("POST", `/v1/sandboxes/${id}/hibernate`, {});
    fleet.relay.mode = { kind: "pass" };
    expect(cut.status, cut.text).toBe(503);
    expect(cut.body.error.code).toBe("store_unavailable");
    expect(await sandboxHost(id)).toMatchObject({ state: "paused", hostId: from });

    const hibernated = await call("POST", `/v1/sandboxes/${id}/hibernate`, {});
    expect(hibernated.status, hibernated.text).toBe(200);
    expect(hibernated.body.state).toBe("hibernated");
    // Its host no longer holds it, and reconciliation leaves it hibernated (not lost).
    const cliEnv = await isolatedEnv({ WRENN_API_URL: fleet.url, WRENN_API_KEY: TEST_ADMIN_KEY });
    const info = await wrenn(["sandbox", "info", id, "--json"], { env: cliEnv });
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).state).toBe("hibernated");

    // The host it left takes no new placements: the resume goes to the other one.
    expect((await call("POST", `/v1/hosts/${from}/drain`, {})).status).toBe(200);
    try {
      const resumed = await call("POST", `/v1/sandboxes/${id}/resume`, {});
      expect(resumed.status, resumed.text).toBe(200);
    } finally {
      await call("POST", `/v1/hosts/${from}/undrain`, {});
    }
    expect(await sandboxHost(id)).toMatchObject({ state: "running", hostId: to });
    expect(await run("cat /home/user/note.txt")).toBe("kept across hosts");
    // The same process, still counting from where it was (a new one would start again at 1).
    expect(await fleet.counterGoesOn(id)).toBeGreaterThan(5);
  }, 600_000);
});
