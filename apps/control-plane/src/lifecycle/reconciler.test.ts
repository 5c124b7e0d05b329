import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, sandboxState, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// The host agent is the in-process fake; its restarts and losses are simulated on it.
afterAll(() => releaseTestDatabases());

describe.each(DATABASE_KINDS)("reconciliation on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    user = await createKey(stack, { createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  test("after an agent restart, the database follows what the host kept", async () => {
    const kept = await createSandbox(stack, user.key);
    const lost = await createSandbox(stack, user.key);
    const pausedOnHost = await createSandbox(stack, user.key);
    const stoppedInDb = await createSandbox(stack, user.key);
    const inFlight = await createSandbox(stack, user.key);

    stack.agent.restart({ lose: [lost.id] });
    stack.agent.sandboxes.get(pausedOnHost.id)!.state = SandboxState.PAUSED;
    await stack.cp.db.query("UPDATE sandboxes SET state = 'stopped' WHERE id = $1", [
      stoppedInDb.id,
    ]);
    await stack.cp.db.query(
      "UPDATE sandboxes SET state = 'pausing', op_deadline = now() + interval '1 hour' WHERE id = $1",
      [inFlight.id],
    );
    stack.agent.sandboxes.set("sb-feedf00d", {
      ...stack.agent.sandboxes.get(kept.id)!,
      id: "sb-feedf00d",
    });

    const report = await stack.cp.reconcile();
    expect(report.changed).toEqual({ [lost.id]: "error", [pausedOnHost.id]: "paused" });
    expect(report.destroyedOnHost).toEqual([stoppedInDb.id]);
    expect(report.inFlight).toEqual([inFlight.id]);
    expect(report.unknownOnHost).toEqual(["sb-feedf00d"]);

    expect(await sandboxState(stack.cp.db, kept.id)).toBe("running");
    expect(await sandboxState(stack.cp.db, lost.id)).toBe("error");
    expect(await sandboxState(stack.cp.db, pausedOnHost.id)).toBe("paused");
    expect(stack.agent.sandboxes.has(stoppedInDb.id)).toBe(false);
    // Unknown sandboxes are reported, never destroyed on a guess.
    expect(stack.agent.sandboxes.has("sb-feedf00d")).toBe(true);
    stack.agent.sandboxes.delete("sb-feedf00d");

    // A second pass finds nothing more to do.
    const again = await stack.cp.reconcile();
    expect(again.changed).toEqual({});
    expect(again.destroyedOnHost).toEqual([]);
  });

  test("the host monitor reconciles by itself when the agent's instance changes", async () => {
    const s = await createSandbox(stack, user.key);
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    stack.agent.restart({ lose: [s.id] });
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    expect(await sandboxState(stack.cp.db, s.id)).toBe("error");
  });

  test("a sandbox that dies on its host is error, with its reason, at the next heartbeat", async () => {
    const s = await createSandbox(stack, user.key);
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    const onHost = stack.agent.sandboxes.get(s.id)!;
    onHost.state = SandboxState.ERROR;
    onHost.error = "the sandbox ran out of memory and its runtime was killed";
    onHost.errorReason = "oom";
    stack.agent.stateVersion++;
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    const got = await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: user.key });
    expect(got.body).toMatchObject({ state: "error", errorReason: "oom", error: onHost.error });
    // Commands and files say why instead of failing at the host.
    const exec = await stack.call("POST", `/v1/sandboxes/${s.id}/exec`, {
      key: user.key,
      body: { command: "true" },
    });
    expect(exec.status).toBe(409);
    expect(exec.body).toMatchObject({ error: { code: "sandbox_failed" } });
    expect((exec.body as { error: { message: string } }).error.message).toContain("(oom)");
    // E2B has no error state: its API reports the sandbox gone, and says why.
    const e2b = await stack.call("GET", `/sandboxes/${s.id}`, { key: user.key });
    expect(e2b.status).toBe(404);
    expect(e2b.text).toContain("failed (oom)");
  });

  test("an operation cut short by an agent restart is settled on reconnect, not at its deadline", async () => {
    const s = await createSandbox(stack, user.key);
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    // The pause was sent to the agent that died; the new one kept the sandbox running.
    await stack.cp.db.query(
      `UPDATE sandboxes SET state = 'pausing', op_deadline = now() + interval '1 hour',
         state_changed_at = now() - interval '1 second' WHERE id = $1`,
      [s.id],
    );
    stack.agent.restart();
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    expect(await sandboxState(stack.cp.db, s.id)).toBe("running");
  });

  test("a lost host marks its sandboxes missing; its return restores them", async () => {
    const running = await createSandbox(stack, user.key);
    const paused = await createSandbox(stack, user.key);
    await stack.call("POST", `/v1/sandboxes/${paused.id}/pause`, { key: user.key });
    await stack.cp.monitor.refresh(stack.cp.localHostId);

    const port = Number(new URL(stack.agent.url).port);
    await stack.agent.stop();
    for (let i = 0; i < 3; i++) await stack.cp.monitor.refresh(stack.cp.localHostId);
    expect(await sandboxState(stack.cp.db, running.id)).toBe("missing");
    expect(await sandboxState(stack.cp.db, paused.id)).toBe("missing");
    const hosts = await stack.call("GET", "/v1/hosts");
    expect((hosts.body as { hosts: { status: string }[] }).hosts[0]!.status).toBe("unreachable");
    // Creating needs a reachable host.
    const refused = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(refused.status).toBe(503);
    // Missing is not dead: E2B still lists it, and its owner is told why it cannot be paused.
    const listed = await stack.call("GET", "/v2/sandboxes", { key: user.key });
    expect((listed.body as { sandboxID: string }[]).map((s) => s.sandboxID)).toContain(running.id);
    expect(
      (await stack.call("POST", `/v1/sandboxes/${running.id}/pause`, { key: user.key })).status,
    ).toBe(503);

    stack.agent.restart();
    await stack.agent.start(port);
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    expect(await sandboxState(stack.cp.db, running.id)).toBe("running");
    expect(await sandboxState(stack.cp.db, paused.id)).toBe("paused");
  });

  test("a control-plane restart reconciles on first contact with the host", async () => {
    const s = await createSandbox(stack, user.key);
    // Gone from the host while no control plane runs: the new one's first contact (started at
    // its start, and joined by this refresh) lists the host after the loss, whatever the load.
    await stack.cp.close();
    stack.agent.sandboxes.delete(s.id);
    await stack.restart();
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    expect(await sandboxState(stack.cp.db, s.id)).toBe("error");
  });

  test("reconciliation does not undo an operation that raced it", async () => {
    const s = await createSandbox(stack, user.key);
    // The host is listed while the sandbox runs; the owner pauses it before the reconciler
    // reads the database. The reconciler's view (running) is stale and must not win.
    const release = stack.agent.holdReply("listSandboxes");
    const listsBefore = stack.agent.callsOf("listSandboxes");
    const reconciling = stack.cp.reconcile();
    while (stack.agent.callsOf("listSandboxes") === listsBefore)
      await new Promise((r) => setTimeout(r, 5));
    expect(
      (await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: user.key })).status,
    ).toBe(200);
    release();
    const report = await reconciling;
    expect(report.changed).toEqual({});
    expect(await sandboxState(stack.cp.db, s.id)).toBe("paused");
    expect(stack.agent.sandboxes.get(s.id)!.state).toBe(SandboxState.PAUSED);
  });
});
