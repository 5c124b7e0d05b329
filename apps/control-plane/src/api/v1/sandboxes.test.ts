import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, sandboxState, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

// The host agent is the in-process fake (testing/fake-host-agent.ts); everything else is real.
afterAll(() => releaseTestDatabases());

interface SandboxBody {
  id: string;
  state: string;
  template: string;
  metadata: Record<string, string>;
  envVarNames: string[];
  envdAccessToken: string;
  endAt: string;
  resources: { vcpus: number; memoryMb: number; diskMb: number };
  network: { allowOut: string[]; denyOut: string[] };
}

describe.each(DATABASE_KINDS)("/v1 sandboxes on %s", (kind) => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind), {
      agent: { templates: ["base", "python"] },
    });
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
  });
  afterAll(() => stack?.close());

  test("create passes the request to the host and returns a running sandbox with a token", async () => {
    const response = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: {
        template: "python",
        resources: { vcpus: 1, memoryMb: 512, diskMb: 1024 },
        metadata: { team: "a", "odd key": "x&y=z" },
        envVars: { SECRET_TOKEN: "hunter2", PLAIN: "1" },
        timeoutSeconds: 120,
        allowInternet: true,
        network: { allowOut: ["10.0.0.0/8"], denyOut: ["10.1.0.0/16", "192.168.7.0/24"] },
      },
    });
    expect(response.status).toBe(201);
    const body = response.body as SandboxBody;
    expect(body.id).toMatch(/^sb-[0-9a-f]{8}$/);
    expect(body.state).toBe("running");
    expect(body.template).toBe("python");
    expect(body.resources).toEqual({ vcpus: 1, memoryMb: 512, diskMb: 1024 });
    expect(body.envVarNames.sort()).toEqual(["PLAIN", "SECRET_TOKEN"]);
    expect(body.envdAccessToken.length).toBeGreaterThanOrEqual(32);
    const remaining = (Date.parse(body.endAt) - Date.now()) / 1000;
    expect(remaining).toBeGreaterThan(60);
    expect(remaining).toBeLessThanOrEqual(121);

    const onHost = stack.agent.sandboxes.get(body.id)!;
    expect(onHost.envVars).toEqual({ SECRET_TOKEN: "hunter2", PLAIN: "1" });
    expect(onHost.envdAccessToken).toBe(body.envdAccessToken);
    expect(onHost.memoryMb).toBe(512);
    expect(onHost.allowInternet).toBe(true);
    expect(onHost.allowOut).toEqual(["10.0.0.0/8"]);
    expect(onHost.denyOut).toEqual(["10.1.0.0/16", "192.168.7.0/24"]);

    // Env values and the envd token never reach the database in clear text.
    const row = (await stack.cp.db.query("SELECT * FROM sandboxes WHERE id = $1", [body.id]))
      .rows[0];
    const stored = JSON.stringify(row);
    expect(stored).not.toContain("hunter2");
    expect(stored).not.toContain(body.envdAccessToken);
    expect(stored).toContain("SECRET_TOKEN");
  });

  test("get returns the same token; list, filters and pagination", async () => {
    const owner = await createKey(stack, { name: "lister" });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await createSandbox(stack, owner.key, {
        metadata: { group: i % 2 === 0 ? "even" : "odd", n: String(i) },
        template: i === 4 ? "python" : "base",
      });
      ids.push(s.id);
    }
    const first = await stack.call("GET", `/v1/sandboxes/${ids[0]}`, { key: owner.key });
    expect(first.status).toBe(200);
    const token = (first.body as SandboxBody).envdAccessToken;
    expect(token).toBe(stack.agent.sandboxes.get(ids[0]!)!.envdAccessToken);

    const all = await stack.call("GET", "/v1/sandboxes", { key: owner.key });
    const listed = (all.body as { sandboxes: SandboxBody[] }).sandboxes.map((s) => s.id);
    expect(listed).toEqual([...ids].reverse());

    const even = await stack.call("GET", "/v1/sandboxes?metadata=group%3Deven", { key: owner.key });
    expect((even.body as { sandboxes: SandboxBody[] }).sandboxes.map((s) => s.id).sort()).toEqual(
      [ids[0], ids[2], ids[4]].sort(),
    );
    const both = await stack.call("GET", "/v1/sandboxes?metadata=group%3Deven&metadata=n%3D2", {
      key: owner.key,
    });
    expect((both.body as { sandboxes: SandboxBody[] }).sandboxes.map((s) => s.id)).toEqual([
      ids[2],
    ]);
    const python = await stack.call("GET", "/v1/sandboxes?template=python", { key: owner.key });
    expect((python.body as { sandboxes: SandboxBody[] }).sandboxes.map((s) => s.id)).toEqual([
      ids[4],
    ]);

    // Pages of two, in both orders, visit every sandbox exactly once.
    for (const order of ["desc", "asc"] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=2&order=${order}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const page = await stack.call("GET", `/v1/sandboxes?${query}`, { key: owner.key });
        expect(page.status).toBe(200);
        const body = page.body as { sandboxes: SandboxBody[]; nextCursor: string | null };
        seen.push(...body.sandboxes.map((s) => s.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(order === "desc" ? [...ids].reverse() : ids);
    }
  });

  test("pause, resume and timeout move the sandbox and the host together", async () => {
    const s = await createSandbox(stack, alice.key);
    const paused = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    expect(paused.status).toBe(200);
    expect((paused.body as SandboxBody).state).toBe("paused");
    expect(stack.agent.sandboxes.get(s.id)!.state).toBe(SandboxState.PAUSED);

    const again = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe("sandbox_paused");

    const resumed = await stack.call("POST", `/v1/sandboxes/${s.id}/resume`, {
      key: alice.key,
      body: { timeoutSeconds: 600 },
    });
    expect(resumed.status).toBe(200);
    const body = resumed.body as SandboxBody;
    expect(body.state).toBe("running");
    expect(body.envdAccessToken).toBe(s.envdAccessToken);
    expect(Date.parse(body.endAt) - Date.now()).toBeGreaterThan(500_000);
    expect(stack.agent.sandboxes.get(s.id)!.state).toBe(SandboxState.RUNNING);

    const shorter = await stack.call("POST", `/v1/sandboxes/${s.id}/timeout`, {
      key: alice.key,
      body: { timeoutSeconds: 30 },
    });
    expect(shorter.status).toBe(200);
    expect(Date.parse((shorter.body as SandboxBody).endAt) - Date.now()).toBeLessThan(31_000);
  });

  test("resume without a timeout reuses the sandbox's own", async () => {
    const s = await createSandbox(stack, alice.key, { timeoutSeconds: 7200 });
    await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    const resumed = await stack.call("POST", `/v1/sandboxes/${s.id}/resume`, { key: alice.key });
    expect(resumed.status).toBe(200);
    expect(Date.parse((resumed.body as SandboxBody).endAt) - Date.now()).toBeGreaterThan(7000_000);
  });

  test("a template built after the last heartbeat is found; a full host says no_capacity", async () => {
    stack.agent.templates.push("fresh");
    await stack.cp.db.query("UPDATE hosts SET last_seen_at = now() - interval '1 minute'");
    const created = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: { template: "fresh" },
    });
    expect(created.status).toBe(201);

    stack.agent.memoryMb = 1;
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    const full = await stack.call("POST", "/v1/sandboxes", { key: alice.key, body: {} });
    expect(full.status).toBe(503);
    expect((full.body as { error: { code: string } }).error.code).toBe("no_capacity");
    stack.agent.memoryMb = 65_536;
    await stack.cp.monitor.refresh(stack.cp.localHostId);
  });

  test("destroy is idempotent and keeps the record readable", async () => {
    const s = await createSandbox(stack, alice.key);
    expect((await stack.call("DELETE", `/v1/sandboxes/${s.id}`, { key: alice.key })).status).toBe(
      204,
    );
    expect(stack.agent.sandboxes.has(s.id)).toBe(false);
    expect((await stack.call("DELETE", `/v1/sandboxes/${s.id}`, { key: alice.key })).status).toBe(
      204,
    );
    const got = await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: alice.key });
    expect((got.body as SandboxBody).state).toBe("stopped");
    const listed = await stack.call("GET", "/v1/sandboxes", { key: alice.key });
    expect((listed.body as { sandboxes: SandboxBody[] }).sandboxes.map((x) => x.id)).not.toContain(
      s.id,
    );
    const stopped = await stack.call("GET", "/v1/sandboxes?state=stopped", { key: alice.key });
    expect((stopped.body as { sandboxes: SandboxBody[] }).sandboxes.map((x) => x.id)).toContain(
      s.id,
    );
  });

  test("stats come from the host while running", async () => {
    const s = await createSandbox(stack, alice.key, { resources: { memoryMb: 256 } });
    const stats = await stack.call("GET", `/v1/sandboxes/${s.id}/stats`, { key: alice.key });
    expect(stats.status).toBe(200);
    expect((stats.body as { memTotalBytes: number }).memTotalBytes).toBe(256 * 1024 * 1024);
    await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    expect(
      (await stack.call("GET", `/v1/sandboxes/${s.id}/stats`, { key: alice.key })).status,
    ).toBe(409);
  });

  test("another owner's sandbox is invisible: 404 everywhere, nothing changes", async () => {
    const s = await createSandbox(stack, alice.key);
    const attempts: [string, string, unknown?][] = [
      ["GET", `/v1/sandboxes/${s.id}`],
      ["GET", `/v1/sandboxes/${s.id}/stats`],
      ["POST", `/v1/sandboxes/${s.id}/pause`],
      ["POST", `/v1/sandboxes/${s.id}/resume`, {}],
      ["POST", `/v1/sandboxes/${s.id}/timeout`, { timeoutSeconds: 1 }],
      ["DELETE", `/v1/sandboxes/${s.id}`],
    ];
    const before = (await stack.cp.db.query("SELECT * FROM sandboxes WHERE id = $1", [s.id])).rows;
    for (const [method, path, body] of attempts) {
      const response = await stack.call(method, path, { key: bob.key, body });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect((response.body as { error: { code: string } }).error.code).toBe("sandbox_not_found");
    }
    const listed = await stack.call("GET", "/v1/sandboxes?state=running,paused,stopped", {
      key: bob.key,
    });
    expect((listed.body as { sandboxes: SandboxBody[] }).sandboxes.map((x) => x.id)).not.toContain(
      s.id,
    );
    expect((await stack.cp.db.query("SELECT * FROM sandboxes WHERE id = $1", [s.id])).rows).toEqual(
      before,
    );
    expect(stack.agent.sandboxes.get(s.id)!.state).toBe(SandboxState.RUNNING);
    // The forwarder seam enforces the same rule.
    const bobPrincipal = await stack.cp.keys.authenticate(bob.key);
    await expect(stack.cp.sandboxes.forwardTarget(bobPrincipal, s.id, 49983)).rejects.toMatchObject(
      {
        code: "sandbox_not_found",
      },
    );
  });

  test("the forward target names the host agent and the sandbox port", async () => {
    const s = await createSandbox(stack, alice.key);
    const principal = await stack.cp.keys.authenticate(alice.key);
    const target = await stack.cp.sandboxes.forwardTarget(principal, s.id, 8080);
    expect(target.url).toBe(stack.agent.url);
    expect(target.headers).toMatchObject({
      "wrenn-forward-sandbox": s.id,
      "wrenn-forward-port": "8080",
    });
    await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    await expect(stack.cp.sandboxes.forwardTarget(null, s.id, 8080)).rejects.toMatchObject({
      code: "sandbox_not_running",
    });
  });

  test("a host failure during create marks the sandbox failed and reports it", async () => {
    stack.agent.failNext("createSandbox", 14 /* Unavailable */);
    const response = await stack.call("POST", "/v1/sandboxes", { key: alice.key, body: {} });
    expect(response.status).toBe(503);
    expect((response.body as { error: { code: string } }).error.code).toBe("host_unavailable");
    const failed = await stack.call("GET", "/v1/sandboxes?state=error", { key: alice.key });
    const rows = (failed.body as { sandboxes: SandboxBody[] }).sandboxes;
    expect(rows.length).toBeGreaterThan(0);
  });

  test("IPv6 egress rules are refused with a 400 that says so, and nothing is stored", async () => {
    const before = await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes");
    const createsBefore = stack.agent.callsOf("createSandbox");
    const response = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: { allowInternet: true, network: { denyOut: ["fd00::/8"] } },
    });
    expect(response.status).toBe(400);
    const error = (response.body as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("egress_ipv6_unsupported");
    expect(error.message).toMatch(/IPv6 egress rules are not supported: sandboxes have IPv4 only/);
    expect(stack.agent.callsOf("createSandbox")).toBe(createsBefore);
    expect((await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes")).rows).toEqual(
      before.rows,
    );
  });

  test("PUT /network replaces the egress policy on the host and in the record", async () => {
    const s = await createSandbox(stack, alice.key, { network: { denyOut: ["9.9.9.9"] } });
    // Nothing asked: the operator's default, which is Wrenn's own (no internet).
    expect(stack.agent.sandboxes.get(s.id)!.allowInternet).toBe(false);
    const response = await stack.call("PUT", `/v1/sandboxes/${s.id}/network`, {
      key: alice.key,
      body: { allowInternet: true, network: { allowOut: ["1.1.1.1"] } },
    });
    expect(response.status).toBe(200);
    const body = response.body as { allowInternet: boolean; network: unknown };
    expect(body.allowInternet).toBe(true);
    expect(body.network).toEqual({ allowOut: ["1.1.1.1"], denyOut: [] });
    const onHost = stack.agent.sandboxes.get(s.id)!;
    expect([onHost.allowInternet, onHost.allowOut, onHost.denyOut]).toEqual([
      true,
      ["1.1.1.1"],
      [],
    ]);
    const read = await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: alice.key });
    expect((read.body as { network: unknown }).network).toEqual(body.network);

    // Host names in allowOut, canonical, on the host as in the record.
    const named = await stack.call("PUT", `/v1/sandboxes/${s.id}/network`, {
      key: alice.key,
      body: { allowInternet: true, network: { allowOut: ["API.example.com.", "*.example.org"] } },
    });
    expect(named.status).toBe(200);
    expect((named.body as { network: unknown }).network).toEqual({
      allowOut: ["api.example.com", "*.example.org"],
      denyOut: [],
    });
    expect(stack.agent.sandboxes.get(s.id)!.allowOut).toEqual(["api.example.com", "*.example.org"]);

    // The host refuses: the record keeps what the host still has.
    stack.agent.failNext("updateSandboxNetwork", 14 /* Unavailable */);
    const failed = await stack.call("PUT", `/v1/sandboxes/${s.id}/network`, {
      key: alice.key,
      body: {},
    });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const after = await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: alice.key });
    expect((after.body as { allowInternet: boolean }).allowInternet).toBe(true);
  });

  test("a create the host agent refuses is a 4xx with the agent's code and leaves no row", async () => {
    // The template is on the host list the scheduler saw, then gone when the agent is asked:
    // the agent's own refusal, not the control plane's check.
    stack.agent.templates.push("vanishing");
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    stack.agent.templates.pop();
    const before = await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes");
    const response = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: { template: "vanishing" },
    });
    expect(response.status).toBe(404);
    expect((response.body as { error: { code: string } }).error.code).toBe("template_not_found");
    expect((await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes")).rows).toEqual(
      before.rows,
    );
    const audit = await stack.cp.db.query<{ outcome: string; detail: { refused?: string } }>(
      "SELECT outcome, detail FROM audit_events WHERE action = 'sandbox.create' ORDER BY id DESC LIMIT 1",
    );
    expect(audit.rows[0]).toMatchObject({
      outcome: "error",
      detail: { refused: "template_not_found" },
    });
  });

  test("an unknown template is refused before anything is stored", async () => {
    const before = await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes");
    const response = await stack.call("POST", "/v1/sandboxes", {
      key: alice.key,
      body: { template: "nope" },
    });
    expect(response.status).toBe(404);
    expect((response.body as { error: { code: string } }).error.code).toBe("template_not_found");
    expect((await stack.cp.db.query("SELECT count(*)::int AS n FROM sandboxes")).rows).toEqual(
      before.rows,
    );
  });

  test("a failed pause leaves the sandbox as the host has it", async () => {
    const s = await createSandbox(stack, alice.key);
    stack.agent.failNext("pauseSandbox", 13 /* Internal */);
    const response = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    expect(response.status).toBe(502);
    expect(await sandboxState(stack.cp.db, s.id)).toBe("running");
  });

  test("every operation leaves an audit event", async () => {
    const s = await createSandbox(stack, alice.key);
    await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: alice.key });
    await stack.call("POST", `/v1/sandboxes/${s.id}/resume`, { key: alice.key });
    await stack.call("POST", `/v1/sandboxes/${s.id}/timeout`, {
      key: alice.key,
      body: { timeoutSeconds: 9 },
    });
    await stack.call("DELETE", `/v1/sandboxes/${s.id}`, { key: alice.key });
    const events = await stack.cp.db.query<{ action: string; outcome: string; api_key_id: string }>(
      "SELECT action, outcome, api_key_id FROM audit_events WHERE sandbox_id = $1 ORDER BY id",
      [s.id],
    );
    expect(events.rows.map((e) => e.action)).toEqual([
      "sandbox.create",
      "sandbox.pause",
      "sandbox.resume",
      "sandbox.timeout",
      "sandbox.destroy",
    ]);
    expect(events.rows.every((e) => e.outcome === "ok" && e.api_key_id === alice.id)).toBe(true);
  });
});
