// Two control planes on one PostgreSQL, in front of one real host agent (runsc): the control
// plane keeps no state of its own, so either serves what the other made, their lifecycle loops
// share the work without doing any of it twice, and one going away leaves the other whole.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "@wrenn/control-plane";
import { type ApiCallOptions, callApi, createKey } from "@wrenn/control-plane/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { waitFor } from "../harness/wait.js";
import { Stack } from "./stack.js";

interface SandboxBody {
  id: string;
  state: string;
  hostId: string;
  stopReason: string | null;
}

interface AuditRow {
  actor: string;
  action: string;
  outcome: string;
}

/** Loops short enough that both control planes pass over a sandbox's end within a second. */
const LOOP_MS = 300;

describe("two control planes on one PostgreSQL, one agent", () => {
  let stack: Stack;
  let cp1: ControlPlane;
  let cp2: ControlPlane;
  let dataDir2: string | undefined;

  const at = (cp: ControlPlane) => ({
    call: (method: string, path: string, o?: ApiCallOptions) => callApi(cp.url, method, path, o),
  });
  const show = async (cp: ControlPlane, id: string, key?: string) => {
    const r = await at(cp).call("GET", `/v1/sandboxes/${id}`, { key });
    expect(r.status, r.text).toBe(200);
    return r.body as SandboxBody;
  };
  async function create(cp: ControlPlane, body: Record<string, unknown>, key?: string) {
    const r = await at(cp).call("POST", "/v1/sandboxes", { key, body });
    expect(r.status, r.text).toBe(201);
    return (r.body as SandboxBody).id;
  }
  const exec = (cp: ControlPlane, id: string, command: string, key?: string) =>
    at(cp).call("POST", `/v1/sandboxes/${id}/exec`, {
      key,
      body: { command, timeoutSeconds: 120 },
    });
  const audit = async (id: string) =>
    (
      await cp2.db.query<AuditRow>(
        "SELECT actor, action, outcome FROM audit_events WHERE sandbox_id = $1 ORDER BY id",
        [id],
      )
    ).rows;

  beforeAll(async () => {
    // One secret key for both: each opens the envd tokens the other sealed.
    const config = {
      secretKey: randomBytes(32).toString("hex"),
      lifecycleIntervalMs: LOOP_MS,
      hostMonitorIntervalMs: LOOP_MS,
    };
    stack = await Stack.start({ database: "postgres", poolSize: 1, config });
    cp1 = stack.cp;
    dataDir2 = await mkdtemp(join(tmpdir(), "wrenn-e2e-cp2-"));
    // The same database and agent, its own data directory and port, its loops on too.
    cp2 = await startControlPlane(
      { ...stack.config, dataDir: dataDir2, port: 0 },
      { logger: pino({ level: stack.config.logLevel }) },
    );
    expect(cp2.localHostId).toBe(cp1.localHostId);
    expect(cp2.controlPlaneId).not.toBe(cp1.controlPlaneId);
    await cp2.monitor.refresh(cp2.localHostId);
  }, 300_000);

  afterAll(async () => {
    try {
      // Stack.close destroys what is left through stack.cp and closes it; the other one here.
      if (cp2 && stack?.cp !== cp2) await cp2.close();
      await stack?.close();
    } finally {
      if (dataDir2) await rm(dataDir2, { recursive: true, force: true });
    }
  }, 300_000);

  test("a sandbox made through one is listed, read, runs commands and is killed through the other", async () => {
    const user = await createKey(at(cp1), { name: "two cps" });
    const id = await create(cp1, {}, user.key);
    const listed = await at(cp2).call("GET", "/v1/sandboxes", { key: user.key });
    expect(listed.status, listed.text).toBe(200);
    expect(JSON.stringify(listed.body)).toContain(id);
    const seen = await show(cp2, id, user.key);
    expect(seen).toMatchObject({ id, state: "running", hostId: cp1.localHostId });

    // What one writes in the sandbox, the other reads: both reach the same envd.
    const wrote = await exec(cp1, id, "echo from-cp1 > /tmp/note", user.key);
    expect(wrote.status, wrote.text).toBe(200);
    const read = await exec(cp2, id, "cat /tmp/note", user.key);
    expect(read.status, read.text).toBe(200);
    expect((read.body as { stdout: string }).stdout).toBe("from-cp1\n");

    const killed = await at(cp2).call("DELETE", `/v1/sandboxes/${id}`, { key: user.key });
    expect(killed.status, killed.text).toBeLessThan(300);
    expect(await show(cp1, id, user.key)).toMatchObject({ state: "stopped" });
    const onHost = await cp1.registry.client(cp1.localHostId).listSandboxes();
    expect(onHost.map((s) => s.id)).not.toContain(id);
    const again = await exec(cp1, id, "true", user.key);
    expect(again.status, again.text).toBeGreaterThanOrEqual(400);
    expect(again.status).toBeLessThan(500);
  });

  test("an API key made on one works on the other; revoked on the other, it fails on both", async () => {
    const user = await createKey(at(cp2), { name: "made on cp2" });
    for (const cp of [cp1, cp2]) {
      const r = await at(cp).call("GET", "/v1/sandboxes", { key: user.key });
      expect(r.status, r.text).toBe(200);
    }
    const revoked = await at(cp1).call("DELETE", `/v1/api-keys/${user.id}`);
    expect(revoked.status, revoked.text).toBe(204);
    for (const cp of [cp1, cp2]) {
      const r = await at(cp).call("GET", "/v1/sandboxes", { key: user.key });
      expect(r.status, r.text).toBe(401);
    }
  });

  test("a short timeout with both lifecycle loops running ends each sandbox exactly once", async () => {
    const ids = [
      await create(cp1, { timeoutSeconds: 2 }),
      await create(cp2, { timeoutSeconds: 2 }),
    ];
    // Beside the background loops, both control planes pass over the same rows at the same
    // moment, again and again, until every sandbox has ended.
    const claimed: string[] = [];
    await waitFor(
      async () => {
        const reports = await Promise.all([cp1.lifecycle.tick(), cp2.lifecycle.tick()]);
        for (const r of reports) claimed.push(...r.expired);
        const states = await Promise.all(ids.map(async (id) => (await show(cp2, id)).state));
        return states.every((s) => s === "stopped");
      },
      180_000,
      "both short-lived sandboxes stopped",
    );
    for (const id of ids) {
      expect(claimed.filter((c) => c === id).length).toBeLessThanOrEqual(1);
      expect(await show(cp1, id)).toMatchObject({ state: "stopped", stopReason: "expired" });
      const events = await audit(id);
      const destroys = events.filter((e) => e.action === "sandbox.destroy");
      expect(destroys, JSON.stringify(events)).toEqual([
        { actor: "lifecycle", action: "sandbox.destroy", outcome: "ok" },
      ]);
      expect(
        events.filter((e) => e.outcome !== "ok"),
        JSON.stringify(events),
      ).toEqual([]);
    }
    const onHost = await cp2.registry.client(cp2.localHostId).listSandboxes();
    for (const id of ids) expect(onHost.map((s) => s.id)).not.toContain(id);
  });

  test("with the first closed, the second serves what it made and its loops still end sandboxes", async () => {
    const made = await create(cp1, {});
    await cp1.close();
    // From here the stack's control plane is the second (it destroys what is left at the end).
    stack.cp = cp2;
    await expect(fetch(`${cp1.url}/health`)).rejects.toThrow();

    // What the first made is the second's to serve.
    const answer = await exec(cp2, made, "echo still-served");
    expect(answer.status, answer.text).toBe(200);
    expect((answer.body as { stdout: string }).stdout).toBe("still-served\n");

    // Its host monitor still watches the agent: the host is seen again after now.
    const seenAt = async () =>
      (
        await cp2.db.query<{ seen: Date | null }>(
          "SELECT last_seen_at AS seen FROM hosts WHERE id = $1",
          [cp2.localHostId],
        )
      ).rows[0]?.seen?.getTime() ?? 0;
    const before = await seenAt();
    await waitFor(async () => (await seenAt()) > before, 60_000, "the host seen again by cp2");

    // A new timeout, and only the second's own background loop left to enforce it.
    const shortened = await at(cp2).call("POST", `/v1/sandboxes/${made}/timeout`, {
      body: { timeoutSeconds: 2 },
    });
    expect(shortened.status, shortened.text).toBe(200);
    await waitFor(
      async () => (await show(cp2, made)).state === "stopped",
      180_000,
      "the second control plane's lifecycle loop to end the sandbox",
    );
    expect(await show(cp2, made)).toMatchObject({ stopReason: "expired" });
    expect((await audit(made)).filter((e) => e.action === "sandbox.destroy")).toEqual([
      { actor: "lifecycle", action: "sandbox.destroy", outcome: "ok" },
    ]);
    const onHost = await cp2.registry.client(cp2.localHostId).listSandboxes();
    expect(onHost.map((s) => s.id)).not.toContain(made);
  });
});
