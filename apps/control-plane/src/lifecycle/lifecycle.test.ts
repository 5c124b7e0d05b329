import { Code } from "@connectrpc/connect";
import { SandboxState } from "@wrenn/proto/hostagent";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startControlPlane } from "../control-plane.js";
import {
  createKey,
  createSandbox,
  expireNow,
  sandboxState,
  type UserKey,
} from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// Ticks are driven by hand and end times moved in the database: no test waits for a clock.
afterAll(() => releaseTestDatabases());

async function row(stack: TestStack, id: string) {
  const result = await stack.cp.db.query<{ state: string; end_at: Date; error: string | null }>(
    "SELECT state, end_at, error FROM sandboxes WHERE id = $1",
    [id],
  );
  return result.rows[0]!;
}

describe.each(DATABASE_KINDS)("lifecycle manager on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    user = await createKey(stack, { createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  test("at its end time a sandbox is destroyed; one still in time is left alone", async () => {
    const expiring = await createSandbox(stack, user.key);
    const living = await createSandbox(stack, user.key);
    await expireNow(stack.cp.db, expiring.id);
    const report = await stack.cp.lifecycle.tick();
    expect(report.expired).toEqual([expiring.id]);
    expect(await sandboxState(stack.cp.db, expiring.id)).toBe("stopped");
    expect(stack.agent.sandboxes.has(expiring.id)).toBe(false);
    expect(await sandboxState(stack.cp.db, living.id)).toBe("running");
    expect(stack.agent.sandboxes.has(living.id)).toBe(true);
    const audit = await stack.cp.db.query<{ actor: string; action: string }>(
      "SELECT actor, action FROM audit_events WHERE sandbox_id = $1 AND action = 'sandbox.destroy'",
      [expiring.id],
    );
    expect(audit.rows).toEqual([{ actor: "lifecycle", action: "sandbox.destroy" }]);
  });

  test("with auto-pause it is paused instead, and stays resumable", async () => {
    const s = await createSandbox(stack, user.key, { autoPause: true });
    await expireNow(stack.cp.db, s.id);
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("paused");
    expect(stack.agent.sandboxes.get(s.id)!.state).toBe(SandboxState.PAUSED);
    // Paused sandboxes have no end time to run out: more passes leave them alone.
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("paused");
    const resumed = await stack.call("POST", `/v1/sandboxes/${s.id}/resume`, { key: user.key });
    expect(resumed.status).toBe(200);
    expect((resumed.body as { envdAccessToken: string }).envdAccessToken).toBe(s.envdAccessToken);
  });

  test("a pending expiry survives a control-plane restart", async () => {
    const s = await createSandbox(stack, user.key, { timeoutSeconds: 300 });
    await stack.restart();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("running");
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("running");
    await expireNow(stack.cp.db, s.id);
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopped");
    expect(stack.agent.sandboxes.has(s.id)).toBe(false);
  });

  test("a destroy the host refused is retried once its deadline passes", async () => {
    const s = await createSandbox(stack, user.key);
    await expireNow(stack.cp.db, s.id);
    stack.agent.failNext("destroySandbox", 14 /* Unavailable */);
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopping");
    expect(stack.agent.sandboxes.has(s.id)).toBe(true);
    // Not yet due: left alone.
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopping");
    await stack.cp.db.query(
      "UPDATE sandboxes SET op_deadline = now() - interval '1 second' WHERE id = $1",
      [s.id],
    );
    const report = await stack.cp.lifecycle.tick();
    expect(report.settled).toContain(s.id);
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopped");
    expect(stack.agent.sandboxes.has(s.id)).toBe(false);
  });

  test("an API destroy during a host outage is kept and finished later", async () => {
    const s = await createSandbox(stack, user.key);
    stack.agent.failNext("destroySandbox", 14);
    expect((await stack.call("DELETE", `/v1/sandboxes/${s.id}`, { key: user.key })).status).toBe(
      204,
    );
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopping");
    await stack.cp.db.query(
      "UPDATE sandboxes SET op_deadline = now() - interval '1 second' WHERE id = $1",
      [s.id],
    );
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("stopped");
    expect(stack.agent.sandboxes.has(s.id)).toBe(false);
  });

  test("a failed auto-pause puts the sandbox back to running and tries again later", async () => {
    const s = await createSandbox(stack, user.key, { autoPause: true });
    await expireNow(stack.cp.db, s.id);
    stack.agent.failNext("pauseSandbox", 13 /* Internal */);
    await stack.cp.lifecycle.tick();
    const after = await row(stack, s.id);
    expect(after.state).toBe("running");
    expect(after.end_at.getTime()).toBeGreaterThan(Date.now());
    await expireNow(stack.cp.db, s.id);
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("paused");
  });

  test("operations a crashed control plane left in flight are settled from the host", async () => {
    const pausing = await createSandbox(stack, user.key);
    const starting = await createSandbox(stack, user.key);
    const resuming = await createSandbox(stack, user.key);
    // As if a control plane died after the host paused one, before it created another, and
    // while the host was resuming a third.
    stack.agent.sandboxes.get(pausing.id)!.state = SandboxState.PAUSED;
    stack.agent.sandboxes.delete(starting.id);
    const ids = [pausing.id, starting.id, resuming.id];
    await stack.cp.db.query(
      `UPDATE sandboxes SET state = CASE id WHEN $1 THEN 'pausing' WHEN $2 THEN 'starting' ELSE 'resuming' END,
         op_deadline = now() - interval '1 second' WHERE id = ANY($3::text[])`,
      [pausing.id, starting.id, ids],
    );
    const report = await stack.cp.lifecycle.tick();
    expect(report.settled.sort()).toEqual([...ids].sort());
    expect(await sandboxState(stack.cp.db, pausing.id)).toBe("paused");
    expect(await row(stack, starting.id)).toMatchObject({
      state: "error",
      error: expect.stringContaining("no longer"),
    });
    expect(await sandboxState(stack.cp.db, resuming.id)).toBe("running");
  });

  test("a host that cannot be asked leaves stuck rows for a later pass", async () => {
    const s = await createSandbox(stack, user.key);
    await stack.cp.db.query(
      "UPDATE sandboxes SET state = 'pausing', op_deadline = now() - interval '1 second' WHERE id = $1",
      [s.id],
    );
    stack.agent.failNext("getSandbox", 14);
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("pausing");
    await stack.cp.db.query(
      "UPDATE sandboxes SET op_deadline = now() - interval '1 second' WHERE id = $1",
      [s.id],
    );
    await stack.cp.lifecycle.tick();
    expect(await sandboxState(stack.cp.db, s.id)).toBe("running");
  });
});

describe("the background loops", () => {
  test("expire sandboxes and watch the host without manual ticks", async () => {
    const stack = await startTestStack(await freshDatabase("pglite"), {
      config: { backgroundLoops: true, lifecycleIntervalMs: 100, hostMonitorIntervalMs: 100 },
    });
    try {
      const s = await createSandbox(stack, undefined, { timeoutSeconds: 1 });
      let state = await sandboxState(stack.cp.db, s.id);
      for (let i = 0; i < 200 && state !== "stopped"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        state = await sandboxState(stack.cp.db, s.id);
      }
      expect(state).toBe("stopped");
      expect(stack.agent.sandboxes.has(s.id)).toBe(false);
      expect(stack.agent.callsOf("heartbeat")).toBeGreaterThan(1);
    } finally {
      await stack.close();
    }
  });
});

describe("several control planes on one PostgreSQL", () => {
  test("share expiries without handling any sandbox twice", async () => {
    const stack = await startTestStack(await freshDatabase("postgres"));
    const second = await startControlPlane(
      { ...stack.config, port: 0 },
      { logger: pino({ level: "silent" }) },
    );
    try {
      const user = await createKey(stack, {
        createRatePerMinute: 1000,
        pools: { vcpus: 1000, memoryMb: 1_000_000 },
      });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++)
        ids.push(
          (
            await createSandbox(stack, user.key, {
              resources: { vcpus: 1, memoryMb: 128, diskMb: 256 },
            })
          ).id,
        );
      await stack.cp.db.query(
        "UPDATE sandboxes SET end_at = now() - interval '1 second' WHERE id = ANY($1::text[])",
        [ids],
      );
      const destroysBefore = stack.agent.callsOf("destroySandbox");
      const reports = [];
      for (let round = 0; round < 3; round++) {
        reports.push(...(await Promise.all([stack.cp.lifecycle.tick(), second.lifecycle.tick()])));
      }
      const handled = reports.flatMap((r) => r.expired);
      expect(handled.sort()).toEqual([...ids].sort());
      expect(new Set(handled).size).toBe(ids.length);
      expect(stack.agent.callsOf("destroySandbox") - destroysBefore).toBe(ids.length);
      for (const id of ids) expect(await sandboxState(stack.cp.db, id)).toBe("stopped");
    } finally {
      await second.close();
      await stack.close();
    }
  });
});

describe.each(DATABASE_KINDS)("auto-hibernate on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind), {
      config: { autoHibernateSeconds: 600 },
    });
    user = await createKey(stack, { createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  test("a sandbox paused past the setting is hibernated, one paused recently is not; a failure leaves it paused and leased, and resume brings it back", async () => {
    const idle = await createSandbox(stack, user.key);
    const recent = await createSandbox(stack, user.key);
    for (const s of [idle, recent]) {
      const r = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: user.key });
      expect(r.status, r.text).toBe(200);
    }
    await stack.cp.db.query(
      "UPDATE sandboxes SET state_changed_at = now() - interval '601 seconds' WHERE id = $1",
      [idle.id],
    );

    // The host's store is down: the sandbox stays paused, leased so the next pass skips it.
    stack.agent.failNext("hibernateSandbox", Code.Unavailable, 1, "store down");
    expect((await stack.cp.lifecycle.tick()).hibernated).toEqual([]);
    expect(await sandboxState(stack.cp.db, idle.id)).toBe("paused");
    expect((await stack.cp.lifecycle.tick()).hibernated).toEqual([]);

    // The lease over: tried again, and this time it goes.
    await stack.cp.db.query("UPDATE sandboxes SET op_deadline = now() WHERE id = $1", [idle.id]);
    expect((await stack.cp.lifecycle.tick()).hibernated).toEqual([idle.id]);
    expect(await sandboxState(stack.cp.db, idle.id)).toBe("hibernated");
    expect(await sandboxState(stack.cp.db, recent.id)).toBe("paused");
    expect(stack.agent.sandboxes.has(idle.id)).toBe(false);

    const resumed = await stack.call("POST", `/v1/sandboxes/${idle.id}/resume`, {
      key: user.key,
    });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await sandboxState(stack.cp.db, idle.id)).toBe("running");
    expect(stack.agent.sandboxes.get(idle.id)?.state).toBe(SandboxState.RUNNING);
  });
});
