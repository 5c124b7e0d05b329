import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { API_KEY_PATTERN, E2B_API_KEY_PATTERN } from "../../auth/api-key.js";
import { createKey, createSandbox } from "../../testing/api-helpers.js";
import {
  captureLogs,
  startTestStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe.each(DATABASE_KINDS)("API keys, pools and rate limits on %s", (kind) => {
  let stack: TestStack;
  let logLines: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    // Swap in a control plane that logs everything, to check keys never reach the log.
    logLines = await captureLogs(stack);
  });
  afterAll(() => stack?.close());

  test("the configured first admin key is stored only as its hash", async () => {
    const rows = await stack.cp.db.query<Record<string, unknown>>("SELECT * FROM api_keys");
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.key_sha256).toBe(sha256(TEST_ADMIN_KEY));
    expect(JSON.stringify(rows.rows)).not.toContain(TEST_ADMIN_KEY);
    expect(rows.rows[0]!.role).toBe("admin");
  });

  test("a created key is shown once, works, and only its hash is stored", async () => {
    const created = await stack.call("POST", "/v1/api-keys", {
      body: {
        name: "ci",
        pools: { vcpus: 4, memoryMb: 4096, storageMb: 8192 },
        createRatePerMinute: 5,
      },
    });
    expect(created.status).toBe(201);
    const { key, apiKey } = created.body as { key: string; apiKey: Record<string, unknown> };
    expect(key).toMatch(API_KEY_PATTERN);
    expect(apiKey).toMatchObject({
      role: "user",
      pools: { vcpus: 4, memoryMb: 4096, storageMb: 8192 },
      createRatePerMinute: 5,
    });

    const stored = await stack.cp.db.query<Record<string, unknown>>(
      "SELECT * FROM api_keys WHERE id = $1",
      [apiKey.id],
    );
    expect(stored.rows[0]!.key_sha256).toBe(sha256(key));
    const everything = JSON.stringify((await stack.cp.db.query("SELECT * FROM api_keys")).rows);
    expect(everything).not.toContain(key);
    const audit = JSON.stringify((await stack.cp.db.query("SELECT * FROM audit_events")).rows);
    expect(audit).not.toContain(key);

    const listed = await stack.call("GET", "/v1/api-keys");
    expect(listed.text).not.toContain(key);
    expect(listed.text).not.toContain(sha256(key));

    const me = await stack.call("GET", "/v1/api-keys/current", { key });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      apiKey: { id: apiKey.id },
      usage: { vcpus: 0, memoryMb: 0, storageMb: 0 },
    });
  });

  test("an E2B-format key (format: e2b) is hashed, owner-scoped and revocable like any key", async () => {
    const owner = await createKey(stack);
    const created = await stack.call("POST", "/v1/api-keys", {
      body: { name: "e2b client", format: "e2b", ownerId: owner.ownerId },
    });
    expect(created.status).toBe(201);
    const { key, apiKey } = created.body as {
      key: string;
      apiKey: { id: string; ownerId: string };
    };
    // What E2B SDK 2.30-2.45 check before sending anything.
    expect(key).toMatch(/^e2b_[0-9a-f]+$/);
    expect(key).toMatch(E2B_API_KEY_PATTERN);
    expect(apiKey.ownerId).toBe(owner.ownerId);
    const stored = await stack.cp.db.query<Record<string, unknown>>(
      "SELECT * FROM api_keys WHERE id = $1",
      [apiKey.id],
    );
    expect(stored.rows[0]!.key_sha256).toBe(sha256(key));
    expect(JSON.stringify((await stack.cp.db.query("SELECT * FROM api_keys")).rows)).not.toContain(
      key,
    );

    // Same owner: a sandbox made with one key is visible with the other.
    const sandbox = await createSandbox(stack, owner.key);
    const seen = await stack.call("GET", `/sandboxes/${sandbox.id}`, { key });
    expect(seen.status).toBe(200);

    expect((await stack.call("DELETE", `/v1/api-keys/${apiKey.id}`)).status).toBe(204);
    const revoked = await stack.call("GET", "/v2/sandboxes", { key });
    expect(revoked.status).toBe(401);

    const bad = await stack.call("POST", "/v1/api-keys", { body: { name: "x", format: "e2b2" } });
    expect(bad.status).toBe(400);
  });

  test("admin routes refuse user keys with 403, and unknown keys with 401", async () => {
    const user = await createKey(stack);
    for (const [method, path, body] of [
      ["GET", "/v1/api-keys", undefined],
      ["POST", "/v1/api-keys", { name: "x" }],
      ["DELETE", `/v1/api-keys/${user.id}`, undefined],
      ["GET", "/v1/hosts", undefined],
    ] as const) {
      const asUser = await stack.call(method, path, { key: user.key, body });
      expect(asUser.status, `${method} ${path}`).toBe(403);
      expect((asUser.body as { error: { code: string } }).error.code).toBe("forbidden");
      const anonymous = await stack.call(method, path, { key: null, body });
      expect(anonymous.status).toBe(401);
      expect((anonymous.body as { error: { code: string } }).error.code).toBe("missing_api_key");
      const wrong = await stack.call(method, path, {
        key: "wrn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        body,
      });
      expect(wrong.status).toBe(401);
      expect((wrong.body as { error: { code: string } }).error.code).toBe("invalid_api_key");
    }
  });

  test("hosts list shows capacity from the agent's HostStatus", async () => {
    const response = await stack.call("GET", "/v1/hosts");
    expect(response.status).toBe(200);
    const [host] = (response.body as { hosts: Record<string, unknown>[] }).hosts;
    expect(host).toMatchObject({
      id: stack.cp.localHostId,
      url: stack.agent.url,
      status: "online",
      agentHostId: stack.agent.hostId,
      capacity: { total: { memoryMb: 65_536 } },
      templates: [{ name: "base" }],
    });
  });

  test("a revoked key stops working; the last admin key cannot be revoked", async () => {
    const user = await createKey(stack);
    expect((await stack.call("GET", "/v1/sandboxes", { key: user.key })).status).toBe(200);
    expect((await stack.call("DELETE", `/v1/api-keys/${user.id}`)).status).toBe(204);
    expect((await stack.call("DELETE", `/v1/api-keys/${user.id}`)).status).toBe(204);
    expect((await stack.call("GET", "/v1/sandboxes", { key: user.key })).status).toBe(401);
    expect((await stack.call("DELETE", "/v1/api-keys/key-00000000")).status).toBe(404);

    const admins = await stack.cp.db.query<{ id: string }>(
      "SELECT id FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL",
    );
    expect(admins.rows).toHaveLength(1);
    const last = await stack.call("DELETE", `/v1/api-keys/${admins.rows[0]!.id}`);
    expect(last.status).toBe(409);
    expect((last.body as { error: { code: string } }).error.code).toBe("last_admin_key");
  });

  test("keys of one owner share sandboxes; pools are per key", async () => {
    const first = await createKey(stack, { name: "team-1", pools: { vcpus: 2 } });
    const second = await createKey(stack, {
      name: "team-2",
      ownerId: first.ownerId,
      pools: { vcpus: 2 },
    });
    const s = await createSandbox(stack, first.key, { resources: { vcpus: 2 } });
    expect((await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: second.key })).status).toBe(
      200,
    );
    // first's pool is full; second's is not.
    expect((await stack.call("POST", "/v1/sandboxes", { key: first.key, body: {} })).status).toBe(
      429,
    );
    expect((await stack.call("POST", "/v1/sandboxes", { key: second.key, body: {} })).status).toBe(
      201,
    );
    const unknownOwner = await stack.call("POST", "/v1/api-keys", {
      body: { name: "x", ownerId: "own-00000000" },
    });
    expect(unknownOwner.status).toBe(404);
  });

  test("pools: over any of them is 429 pool_exhausted; pausing frees compute, not storage", async () => {
    const user = await createKey(stack, { pools: { vcpus: 6, memoryMb: 2560, storageMb: 8192 } });
    const big = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { resources: { vcpus: 7 } },
    });
    expect(big.status).toBe(429);
    expect((big.body as { error: { code: string; message: string } }).error).toMatchObject({
      code: "pool_exhausted",
      message: expect.stringContaining("vcpus"),
    });
    expect(big.headers.get("retry-after")).toBeNull();

    const a = await createSandbox(stack, user.key, {
      resources: { vcpus: 2, memoryMb: 1024, diskMb: 4096 },
    });
    await createSandbox(stack, user.key, { resources: { vcpus: 2, memoryMb: 1024, diskMb: 2048 } });
    const memory = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { resources: { vcpus: 1, memoryMb: 1536, diskMb: 256 } },
    });
    expect(memory.status).toBe(429);
    expect((memory.body as { error: { message: string } }).error.message).toContain("memory");

    // Pausing a frees its vcpus and memory but keeps its disk.
    expect(
      (await stack.call("POST", `/v1/sandboxes/${a.id}/pause`, { key: user.key })).status,
    ).toBe(200);
    const c = await createSandbox(stack, user.key, {
      resources: { vcpus: 2, memoryMb: 1024, diskMb: 2048 },
    });
    const disk = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { resources: { vcpus: 1, memoryMb: 128, diskMb: 256 } },
    });
    expect(disk.status).toBe(429);
    expect((disk.body as { error: { message: string } }).error.message).toContain("storage");

    // Resuming a would need compute the pool no longer has.
    const resume = await stack.call("POST", `/v1/sandboxes/${a.id}/resume`, { key: user.key });
    expect(resume.status).toBe(429);
    expect((resume.body as { error: { message: string } }).error.message).toContain("memory");
    expect(
      (await stack.call("GET", `/v1/sandboxes/${a.id}`, { key: user.key })).body,
    ).toMatchObject({
      state: "paused",
    });
    await stack.call("DELETE", `/v1/sandboxes/${c.id}`, { key: user.key });
    expect(
      (await stack.call("POST", `/v1/sandboxes/${a.id}/resume`, { key: user.key })).status,
    ).toBe(200);

    const usage = await stack.call("GET", "/v1/api-keys/current", { key: user.key });
    expect((usage.body as { usage: unknown }).usage).toEqual({
      vcpus: 4,
      memoryMb: 2048,
      storageMb: 6144,
    });
  });

  test("concurrent creates cannot overrun a pool", async () => {
    const user = await createKey(stack, { pools: { vcpus: 6 }, createRatePerMinute: 100 });
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        stack.call("POST", "/v1/sandboxes", { key: user.key, body: { resources: { vcpus: 2 } } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });

  test("the create rate limit answers 429 rate_limited with Retry-After", async () => {
    const user = await createKey(stack, { createRatePerMinute: 2 });
    await createSandbox(stack, user.key);
    await createSandbox(stack, user.key);
    const third = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(third.status).toBe(429);
    expect((third.body as { error: { code: string } }).error.code).toBe("rate_limited");
    const retryAfter = Number(third.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Rows created more than a minute ago no longer count.
    await stack.cp.db.query(
      "UPDATE sandboxes SET created_at = created_at - interval '61 seconds' WHERE api_key_id = $1",
      [user.id],
    );
    expect((await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} })).status).toBe(
      201,
    );
  });

  test("no API key or envd token ever reaches the log", async () => {
    const user = await createKey(stack);
    const s = await createSandbox(stack, user.key);
    await stack.call("GET", `/v1/sandboxes/${s.id}`, { key: user.key });
    await stack.call("GET", "/v1/sandboxes", { key: "wrn_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" });
    const log = logLines.join("");
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain(s.id);
    for (const secret of [
      TEST_ADMIN_KEY,
      user.key,
      s.envdAccessToken,
      "wrn_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    ]) {
      expect(log).not.toContain(secret);
    }
  });
});

describe("first start without WRENN_API_KEY", () => {
  test("generates an admin key once and reports it; the second start does not", async () => {
    const target = await freshDatabase("pglite");
    const stack = await startTestStack(target, { config: { apiKey: undefined } });
    try {
      const generated = stack.cp.bootstrapApiKey!;
      expect(generated).toMatch(API_KEY_PATTERN);
      expect((await stack.call("GET", "/v1/api-keys", { key: generated })).status).toBe(200);
      expect((await stack.call("GET", "/v1/api-keys", { key: TEST_ADMIN_KEY })).status).toBe(401);
      await stack.restart();
      expect(stack.cp.bootstrapApiKey).toBeUndefined();
      expect((await stack.call("GET", "/v1/api-keys", { key: generated })).status).toBe(200);
      const keys = await stack.cp.db.query("SELECT id FROM api_keys");
      expect(keys.rows).toHaveLength(1);
    } finally {
      await stack.close();
    }
  });
});
