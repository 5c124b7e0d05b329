import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HostAgentService, PauseMode, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// Restarts of either program with the real host agent: afterwards the database and the host
// agree, including about changes made while one side was away.
describe("reconciliation with the real host agent (PGlite)", () => {
  let stack: Stack;
  let user: UserKey;
  let agent: Client<typeof HostAgentService>;

  beforeAll(async () => {
    // A destroy deferred while the agent is down is retried after this deadline.
    stack = await Stack.start({ poolSize: 0, config: { operationDeadlines: { stop: 2 } } });
    user = await stack.key({ name: "restarts" });
    agent = createClient(
      HostAgentService,
      createConnectTransport({
        baseUrl: stack.agent.url,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${stack.agent.options.token}`);
            return next(req);
          },
        ],
      }),
    );
  });
  afterAll(() => stack?.close());

  const create = async () => {
    const r = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { timeoutSeconds: 3600 },
    });
    expect(r.status, r.text).toBe(201);
    return (r.body as { id: string }).id;
  };
  const exec = (id: string, command: string) =>
    stack.call("POST", `/v1/sandboxes/${id}/exec`, { key: user.key, body: { command } });
  const dbStates = async () =>
    Object.fromEntries(
      (
        await stack.cp.db.query<{ id: string; state: string }>("SELECT id, state FROM sandboxes")
      ).rows.map((r) => [r.id, r.state]),
    );
  const AGENT_STATES: Record<number, string> = {
    [SandboxState.RUNNING]: "running",
    [SandboxState.PAUSED]: "paused",
    [SandboxState.STARTING]: "starting",
    [SandboxState.ERROR]: "error",
    [SandboxState.STOPPED]: "stopped",
  };
  const agentStates = async () =>
    Object.fromEntries(
      (await agent.listSandboxes({})).sandboxes.map((s) => [
        s.sandboxId,
        AGENT_STATES[s.state] ?? "unknown",
      ]),
    );
  /** Every row the database keeps alive is in that state on the host; stopped rows are gone. */
  const expectAgreement = async () => {
    const [db, host] = [await dbStates(), await agentStates()];
    for (const [id, state] of Object.entries(db)) {
      if (state === "running" || state === "paused") expect([id, host[id]]).toEqual([id, state]);
      else if (state === "stopped" || state === "error")
        expect([id, host[id]]).toEqual([id, undefined]);
      else throw new Error(`sandbox ${id} is still ${state}`);
    }
    for (const id of Object.keys(host)) expect(db[id], `${id} is on the host only`).toBeDefined();
  };

  test("a control-plane restart picks up what changed on the host meanwhile", async () => {
    const kept = await create();
    const lost = await create();
    const paused = await create();
    const wrote = await exec(kept, "echo before > ~/kept.txt");
    expect(wrote.status, wrote.text).toBe(200);
    const pausing = await stack.call("POST", `/v1/sandboxes/${paused}/pause`, { key: user.key });
    expect(pausing.status, pausing.text).toBe(200);

    await stack.cp.close();
    // Behind the control plane's back: one sandbox paused, one destroyed.
    await agent.pauseSandbox({ sandboxId: kept, mode: PauseMode.CHECKPOINT });
    await agent.destroySandbox({ sandboxId: lost });
    await stack.startControlPlane();

    const states = await dbStates();
    expect([states[kept], states[lost], states[paused]]).toEqual(["paused", "error", "paused"]);
    await expectAgreement();
    const lostRow = await stack.call("GET", `/v1/sandboxes/${lost}`, { key: user.key });
    expect(lostRow.body).toMatchObject({
      state: "error",
      error: "the host no longer has this sandbox",
    });

    expect(
      (await stack.call("POST", `/v1/sandboxes/${kept}/resume`, { key: user.key })).status,
    ).toBe(200);
    expect((await exec(kept, "cat ~/kept.txt")).body).toMatchObject({ stdout: "before\n" });
    await stack.call("DELETE", `/v1/sandboxes/${lost}`, { key: user.key });
  });

  test("after the agent is killed with -9 and started again, the database and the host agree", async () => {
    const running = await create();
    const paused = await create();
    const doomed = await create();
    expect((await exec(running, "echo survived > ~/crash.txt")).status).toBe(200);
    const pausing = await stack.call("POST", `/v1/sandboxes/${paused}/pause`, { key: user.key });
    expect(pausing.status, pausing.text).toBe(200);

    await stack.agent.kill9();
    // While it is away: I/O fails cleanly, and a destroy is accepted and deferred.
    const unreachable = await exec(running, "true");
    expect(unreachable.status).toBe(502);
    const proxied = await fetch(`${stack.url}/health`, { headers: { "e2b-sandbox-id": running } });
    expect(proxied.status).toBe(502);
    expect((await stack.call("DELETE", `/v1/sandboxes/${doomed}`, { key: user.key })).status).toBe(
      204,
    );
    await waitFor(
      async () => (await dbStates())[running] === "missing",
      30_000,
      "the host to be declared lost",
    );
    expect((await dbStates())[paused]).toBe("missing");

    await stack.agent.start();
    let seen: Record<string, string> = {};
    await waitFor(
      async () => {
        seen = await dbStates();
        return (
          seen[running] === "running" && seen[paused] === "paused" && seen[doomed] === "stopped"
        );
      },
      60_000,
      "reconciliation after the agent came back",
    ).catch((error: Error) => {
      throw new Error(`${error.message}; states: ${JSON.stringify(seen)}`);
    });
    await expectAgreement();
    expect((await exec(running, "cat ~/crash.txt")).body).toMatchObject({ stdout: "survived\n" });
    expect(
      (await stack.call("POST", `/v1/sandboxes/${paused}/resume`, { key: user.key })).status,
    ).toBe(200);
    await expectAgreement();
  });
});
