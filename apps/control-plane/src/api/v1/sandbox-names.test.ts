import { LIMITS } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createKey,
  createSandbox,
  expireNow,
  snapshot,
  type UserKey,
} from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

// Names, stop reasons, hidden failed creates and timeout 0, through the real /v1 routes and
// database; the host agent is the in-process fake.
afterAll(() => releaseTestDatabases());

interface Body {
  id: string;
  name: string | null;
  state: string;
  endAt: string;
  timeoutSeconds: number;
  stopReason: string | null;
  error?: { code: string; message: string };
}

describe.each(DATABASE_KINDS)("sandbox names and endings on %s", (kind) => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    alice = await createKey(stack, { name: "alice", createRatePerMinute: 1000 });
    bob = await createKey(stack, { name: "bob", createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  const get = async (key: string, ref: string) =>
    (await stack.call("GET", `/v1/sandboxes/${ref}`, { key })) as {
      status: number;
      body: Body;
    };

  test("a name works wherever the id does, and is shown", async () => {
    const created = (await createSandbox(stack, alice.key, { name: "web" })) as unknown as Body;
    expect(created.name).toBe("web");
    const byName = await get(alice.key, "web");
    expect(byName.status).toBe(200);
    expect(byName.body.id).toBe(created.id);
    expect(byName.body.name).toBe("web");

    const timeout = await stack.call("POST", "/v1/sandboxes/web/timeout", {
      key: alice.key,
      body: { timeoutSeconds: 600 },
    });
    expect(timeout.status).toBe(200);
    expect((timeout.body as Body).id).toBe(created.id);
    const paused = await stack.call("POST", "/v1/sandboxes/web/pause", { key: alice.key });
    expect(paused.status).toBe(200);
    expect((await stack.call("POST", "/v1/sandboxes/web/resume", { key: alice.key })).status).toBe(
      200,
    );
    const events = await stack.call("GET", "/v1/sandboxes/web/events", { key: alice.key });
    expect(events.status).toBe(200);
    expect((events.body as { events: { action: string }[] }).events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["sandbox.create", "sandbox.pause", "sandbox.resume"]),
    );

    const listed = await stack.call("GET", "/v1/sandboxes", { key: alice.key });
    const row = (listed.body as { sandboxes: Body[] }).sandboxes.find((s) => s.id === created.id);
    expect(row?.name).toBe("web");

    // Another owner neither sees alice's name nor is blocked by it.
    expect((await get(bob.key, "web")).status).toBe(404);
    const bobs = (await createSandbox(stack, bob.key, { name: "web" })) as unknown as Body;
    expect(bobs.name).toBe("web");
    expect((await get(bob.key, "web")).body.id).toBe(bobs.id);
    expect((await get(alice.key, "web")).body.id).toBe(created.id);
  });

  test("a name held by a live sandbox is a 409 and creates nothing; it frees up on destroy", async () => {
    const first = await createSandbox(stack, alice.key, { name: "db" });
    const before = await snapshot(stack.cp.db);
    const creates = stack.agent.callsOf("createSandbox");
    const clash = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: { name: "db" },
    });
    expect(clash.status).toBe(409);
    const error = (clash.body as Body).error!;
    expect(error.code).toBe("sandbox_name_taken");
    expect(error.message).toContain("db");
    expect(stack.agent.callsOf("createSandbox")).toBe(creates);
    expect(await snapshot(stack.cp.db)).toBe(before);

    expect((await stack.call("DELETE", "/v1/sandboxes/db", { key: alice.key })).status).toBe(204);
    const ended = await get(alice.key, "db");
    expect(ended.body.id).toBe(first.id);
    expect(ended.body.state).toBe("stopped");
    expect(ended.body.stopReason).toBe("destroyed");

    const second = await createSandbox(stack, alice.key, { name: "db" });
    expect((await get(alice.key, "db")).body.id).toBe(second.id);
  });

  test("a failed sandbox frees its name; destroying it later leaves the new holder alone", async () => {
    const failed = await createSandbox(stack, alice.key, { name: "flaky" });
    await stack.cp.db.query(
      "UPDATE sandboxes SET state = 'error', error = 'test', error_reason = 'crashed' WHERE id = $1",
      [failed.id],
    );
    const fresh = await createSandbox(stack, alice.key, { name: "flaky" });
    expect((await get(alice.key, "flaky")).body.id).toBe(fresh.id);
    const destroyed = await stack.call("DELETE", `/v1/sandboxes/${failed.id}`, { key: alice.key });
    expect(destroyed.status).toBe(204);
    expect((await get(alice.key, failed.id)).body.state).toBe("stopped");
    expect((await get(alice.key, "flaky")).body).toMatchObject({ id: fresh.id, state: "running" });
  });

  test("bad names are a 400 naming the field, and nothing is stored", async () => {
    const before = await snapshot(stack.cp.db);
    for (const name of ["", "Web", "-x", "x-", "a b", "sb-1a2b3c4d", "x".repeat(64)]) {
      const response = await stack.call("POST", "/v1/sandboxes", {
        key: alice.key,
        body: { name },
      });
      expect(response.status, name).toBe(400);
      expect((response.body as Body).error!.code).toBe("invalid_request");
      expect((response.body as Body).error!.message).toMatch(/name/);
    }
    expect(await snapshot(stack.cp.db)).toBe(before);
  });

  test("an expired sandbox says it expired and when, not just 'not found'", async () => {
    const s = await createSandbox(stack, alice.key, { name: "short" });
    await expireNow(stack.cp.db, s.id);
    await stack.cp.lifecycle.tick();
    const record = await get(alice.key, s.id);
    expect(record.status).toBe(200);
    expect(record.body.state).toBe("stopped");
    expect(record.body.stopReason).toBe("expired");
    const pause = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    expect(pause.status).toBe(404);
    const error = (pause.body as Body).error!;
    expect(error.code).toBe("sandbox_not_found");
    expect(error.message).toContain(`expired at ${record.body.endAt}`);
    const exec = await stack.call("POST", "/v1/sandboxes/short/exec", {
      key: alice.key,
      body: { cmd: "true" },
    });
    expect(exec.status).toBe(404);
    expect((exec.body as Body).error!.message).toContain("expired at");
  });

  test("a failed create is listed for a while, then only when asked for", async () => {
    stack.agent.failNext("createSandbox", 14 /* Unavailable */);
    const response = await stack.call("POST", "/v1/sandboxes", { key: bob.key, body: {} });
    expect(response.status).toBe(503);
    const failed = await stack.cp.db.query<{ id: string }>(
      "SELECT id FROM sandboxes WHERE owner_id = $1 AND state = 'error'",
      [bob.ownerId],
    );
    const id = failed.rows[0]!.id;
    const ids = async (query: string) =>
      (
        (await stack.call("GET", `/v1/sandboxes${query}`, { key: bob.key })).body as {
          sandboxes: Body[];
        }
      ).sandboxes.map((s) => s.id);
    expect(await ids("")).toContain(id);

    await stack.cp.db.query(
      "UPDATE sandboxes SET state_changed_at = now() - interval '601 seconds' WHERE id = $1",
      [id],
    );
    expect(await ids("")).not.toContain(id);
    expect(await ids("?state=error")).toContain(id);
    // The record itself stays readable, and so does its audit trail.
    expect((await get(bob.key, id)).body.state).toBe("error");
    const events = await stack.call("GET", `/v1/sandboxes/${id}/events`, { key: bob.key });
    expect(JSON.stringify(events.body)).toContain("sandbox.create");
  });

  test("timeoutSeconds 0 means the longest allowed, never 'end now'", async () => {
    const max = LIMITS.timeoutSeconds.max;
    const s = (await createSandbox(stack, alice.key, { timeoutSeconds: 0 })) as unknown as Body;
    expect(s.state).toBe("running");
    expect(s.timeoutSeconds).toBe(max);
    expect(Date.parse(s.endAt) - Date.now()).toBeGreaterThan((max - 3600) * 1000);
    await stack.cp.lifecycle.tick();
    expect((await get(alice.key, s.id)).body.state).toBe("running");

    const shortened = await stack.call("POST", `/v1/sandboxes/${s.id}/timeout`, {
      key: alice.key,
      body: { timeoutSeconds: 60 },
    });
    expect(Date.parse((shortened.body as Body).endAt) - Date.now()).toBeLessThan(61_000);
    const zero = await stack.call("POST", `/v1/sandboxes/${s.id}/timeout`, {
      key: alice.key,
      body: { timeoutSeconds: 0 },
    });
    expect(zero.status).toBe(200);
    expect(Date.parse((zero.body as Body).endAt) - Date.now()).toBeGreaterThan((max - 3600) * 1000);
    await stack.cp.lifecycle.tick();
    expect((await get(alice.key, s.id)).body.state).toBe("running");
  });
});
