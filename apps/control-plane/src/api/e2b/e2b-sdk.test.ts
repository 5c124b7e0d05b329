import { SandboxState } from "@wrenn/proto/hostagent";
import {
  ALL_TRAFFIC,
  AuthenticationError,
  RateLimitError,
  Sandbox,
  SandboxNotFoundError,
} from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, sandboxState, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

// The official e2b@2.51.0 SDK against the control plane. The host agent is the in-process fake
// (testing/fake-host-agent.ts): these calls never reach envd.
afterAll(() => releaseTestDatabases());

async function listAll(opts: Parameters<typeof Sandbox.list>[0]) {
  const paginator = Sandbox.list(opts);
  const items = [];
  while (paginator.hasNext) items.push(...(await paginator.nextItems()));
  return items;
}

describe.each(DATABASE_KINDS)("E2B API with the official SDK on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string; requestTimeoutMs: number };

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    user = await createKey(stack, { name: "e2b user" });
    opts = {
      apiKey: user.key,
      apiUrl: stack.cp.url,
      sandboxUrl: stack.cp.url,
      requestTimeoutMs: 20_000,
    };
  });
  afterAll(() => stack?.close());

  test("create, getInfo, setTimeout, kill", async () => {
    const sbx = await Sandbox.create("base", {
      ...opts,
      metadata: { purpose: "sdk test" },
      envs: { SDK_SECRET: "s3cret" },
      timeoutMs: 90_500,
    });
    expect(sbx.sandboxId).toMatch(/^sb-[0-9a-f]{8}$/);
    expect(stack.agent.sandboxes.get(sbx.sandboxId)!.envVars).toEqual({ SDK_SECRET: "s3cret" });
    expect(stack.agent.sandboxes.get(sbx.sandboxId)!.envdAccessToken).toBeTruthy();

    const info = await sbx.getInfo();
    expect(info.sandboxId).toBe(sbx.sandboxId);
    expect(info.templateId).toBe("base");
    expect(info.state).toBe("running");
    expect(info.metadata).toEqual({ purpose: "sdk test" });
    expect(info.envdVersion).toBe("0.6.13");
    expect(info.cpuCount).toBe(1);
    expect(info.lifecycle).toEqual({ onTimeout: "kill", autoResume: false });
    // ceil(90.5) = 91 seconds.
    const remaining = info.endAt.getTime() - Date.now();
    expect(remaining).toBeGreaterThan(60_000);
    expect(remaining).toBeLessThanOrEqual(91_000);

    await sbx.setTimeout(5_000);
    expect((await sbx.getInfo()).endAt.getTime() - Date.now()).toBeLessThanOrEqual(5_000);

    expect(await sbx.kill()).toBe(true);
    expect(await Sandbox.kill(sbx.sandboxId, opts)).toBe(false);
    await expect(Sandbox.getInfo(sbx.sandboxId, opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.setTimeout(sbx.sandboxId, 1000, opts)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
  });

  test("pause, then connect resumes with the same access token", async () => {
    const sbx = await Sandbox.create("base", { ...opts, lifecycle: { onTimeout: "pause" } });
    expect((await sbx.getInfo()).lifecycle?.onTimeout).toBe("pause");
    expect(await sbx.pause()).toBe(true);
    expect(await sbx.pause()).toBe(false);
    expect((await sbx.getInfo()).state).toBe("paused");
    expect(stack.agent.sandboxes.get(sbx.sandboxId)!.state).toBe(SandboxState.PAUSED);

    const again = await Sandbox.connect(sbx.sandboxId, { ...opts, timeoutMs: 120_000 });
    expect(again.sandboxId).toBe(sbx.sandboxId);
    expect(stack.agent.sandboxes.get(sbx.sandboxId)!.state).toBe(SandboxState.RUNNING);
    expect((await again.getInfo()).state).toBe("running");
    const token = (again as unknown as { envdAccessToken: string }).envdAccessToken;
    expect(token).toBe((sbx as unknown as { envdAccessToken: string }).envdAccessToken);
    expect(token).toBe(stack.agent.sandboxes.get(sbx.sandboxId)!.envdAccessToken);

    await sbx.pause();
    await sbx.connect(); // the instance method ignores the response
    expect((await sbx.getInfo()).state).toBe("running");
    await sbx.kill();
    await expect(Sandbox.connect(sbx.sandboxId, opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
  });

  test("list: metadata filter with awkward characters, state filter, pages", async () => {
    const tag = `run-${Date.now()}`;
    const odd = { tag, owner: "a b&c=d", "k/e y": "ü%20" };
    const a = await Sandbox.create("base", { ...opts, metadata: odd });
    const b = await Sandbox.create("base", { ...opts, metadata: { tag, owner: "someone else" } });
    const c = await Sandbox.create("base", { ...opts, metadata: { tag } });
    await c.pause();

    const matched = await listAll({ ...opts, query: { metadata: odd } });
    expect(matched.map((s) => s.sandboxId)).toEqual([a.sandboxId]);
    expect(matched[0]!.metadata).toEqual(odd);

    const tagged = await listAll({ ...opts, query: { metadata: { tag } } });
    expect(tagged.map((s) => s.sandboxId)).toEqual([c.sandboxId, b.sandboxId, a.sandboxId]);

    const paused = await listAll({ ...opts, query: { metadata: { tag }, state: ["paused"] } });
    expect(paused.map((s) => [s.sandboxId, s.state])).toEqual([[c.sandboxId, "paused"]]);
    const running = await listAll({ ...opts, query: { metadata: { tag }, state: ["running"] } });
    expect(running.map((s) => s.sandboxId).sort()).toEqual([a.sandboxId, b.sandboxId].sort());

    const paginator = Sandbox.list({ ...opts, limit: 1, query: { metadata: { tag } } });
    const pages: string[][] = [];
    while (paginator.hasNext) pages.push((await paginator.nextItems()).map((s) => s.sandboxId));
    expect(pages).toEqual([[c.sandboxId], [b.sandboxId], [a.sandboxId]]);

    const ascending = await listAll({ ...opts, order: "asc", query: { metadata: { tag } } });
    expect(ascending.map((s) => s.sandboxId)).toEqual([a.sandboxId, b.sandboxId, c.sandboxId]);

    await b.kill();
    const afterKill = await listAll({ ...opts, query: { metadata: { tag } } });
    expect(afterKill.map((s) => s.sandboxId)).not.toContain(b.sandboxId);
  });

  test("network: E2B's allow/deny recipe, updateNetwork replaces it whole, host names in allowOut only", async () => {
    const sbx = await Sandbox.create("base", {
      ...opts,
      network: { allowOut: ["1.1.1.1"], denyOut: [ALL_TRAFFIC] },
    });
    try {
      const agentView = () => {
        const s = stack.agent.sandboxes.get(sbx.sandboxId)!;
        return { allowInternet: s.allowInternet, allowOut: s.allowOut, denyOut: s.denyOut };
      };
      // Wrenn's default (no operator setting): no internet unless asked.
      expect(agentView()).toEqual({
        allowInternet: false,
        allowOut: ["1.1.1.1"],
        denyOut: ["0.0.0.0/0"],
      });
      await sbx.updateNetwork({ allowOut: ["8.8.8.0/24"], allowInternetAccess: true });
      // Replaced whole: denyOut, left out, is cleared.
      expect(agentView()).toEqual({ allowInternet: true, allowOut: ["8.8.8.0/24"], denyOut: [] });
      const info = await sbx.getInfo();
      expect(info.allowInternetAccess).toBe(true);
      expect(info.network).toMatchObject({ allowOut: ["8.8.8.0/24"], denyOut: [] });

      await expect(sbx.updateNetwork({ denyOut: ["example.com"] })).rejects.toThrow(
        /domain names are allowed in allowOut only/,
      );
      await expect(sbx.updateNetwork({ allowOut: ["exa mple.com"] })).rejects.toThrow(
        /not an IPv4 address, CIDR or host name/,
      );
      await expect(sbx.updateNetwork({ denyOut: ["fd00::/8"] })).rejects.toThrow(/IPv4 only/);
      // A refused update changes nothing.
      expect(agentView()).toEqual({ allowInternet: true, allowOut: ["8.8.8.0/24"], denyOut: [] });
      // Host names in allowOut: accepted (canonical form) and handed to the host as they are.
      await sbx.updateNetwork({ allowOut: ["Example.com.", "*.example.org"] });
      expect(agentView()).toEqual({
        allowInternet: false,
        allowOut: ["example.com", "*.example.org"],
        denyOut: [],
      });
      const named = await Sandbox.create("base", {
        ...opts,
        network: { allowOut: ["*.example.com", "1.1.1.1"], denyOut: [ALL_TRAFFIC] },
      });
      expect((await named.getInfo()).network).toMatchObject({
        allowOut: ["*.example.com", "1.1.1.1"],
      });
      await named.kill();
    } finally {
      await sbx.kill();
    }
    await expect(
      Sandbox.updateNetwork(sbx.sandboxId, { allowOut: ["1.1.1.1"] }, opts),
    ).rejects.toBeInstanceOf(SandboxNotFoundError);
  });

  test("metrics come from the host's stats", async () => {
    const sbx = await Sandbox.create("base", opts);
    const metrics = await sbx.getMetrics();
    expect(metrics).toHaveLength(1);
    expect(metrics[0]!.cpuCount).toBe(1);
    expect(metrics[0]!.memTotal).toBe(512 * 1024 * 1024);
    expect(metrics[0]!.timestamp).toBeInstanceOf(Date);
    await sbx.pause();
    expect(await sbx.getMetrics()).toEqual([]);
    await expect(Sandbox.getMetrics("sb-00000000", opts)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
  });

  test("a bad key is an AuthenticationError; another owner's sandbox is not found", async () => {
    await expect(
      Sandbox.list({ ...opts, apiKey: "wrn_nottherightkeynottherightkey00" }).nextItems(),
    ).rejects.toBeInstanceOf(AuthenticationError);
    const other = await createKey(stack, { name: "other" });
    const theirs = await Sandbox.create("base", { ...opts, apiKey: other.key });
    expect(await Sandbox.kill(theirs.sandboxId, opts)).toBe(false);
    await expect(Sandbox.getInfo(theirs.sandboxId, opts)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
    await expect(Sandbox.connect(theirs.sandboxId, opts)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
    await expect(Sandbox.pause(theirs.sandboxId, opts)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
    expect(await sandboxState(stack.cp.db, theirs.sandboxId)).toBe("running");
  });

  test("an exhausted pool is a RateLimitError", async () => {
    // The default sandbox has 1 vcpu: a pool of 1 holds exactly one.
    const small = await createKey(stack, { name: "small", pools: { vcpus: 1 } });
    await Sandbox.create("base", { ...opts, apiKey: small.key });
    await expect(Sandbox.create("base", { ...opts, apiKey: small.key })).rejects.toBeInstanceOf(
      RateLimitError,
    );
  });

  test("wire details the SDK does not surface", async () => {
    const headers = { "x-api-key": user.key, "content-type": "application/json" };
    const created = await fetch(`${stack.cp.url}/v2/sandboxes`, {
      method: "POST",
      headers,
      body: JSON.stringify({ templateID: "base", timeout: 30 }),
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as Record<string, unknown>;
    // No WRENN_DOMAIN: sandbox ports are named under localhost, at this server's port.
    const port = new URL(stack.cp.url).port;
    expect(body).toMatchObject({
      templateID: "base",
      domain: `localhost:${port}`,
      envdVersion: "0.6.13",
    });
    expect(body).not.toHaveProperty("trafficAccessToken");
    expect(body.envdAccessToken).toEqual(expect.any(String));
    const id = body.sandboxID as string;

    const connect = (payload: unknown) =>
      fetch(`${stack.cp.url}/v2/sandboxes/${id}/connect`, {
        method: "POST",
        headers,
        body: JSON.stringify(payload),
      });
    expect((await connect({})).status).toBe(200);
    expect((await connect({ timeout: 10 })).status).toBe(200);
    const pause = await fetch(`${stack.cp.url}/sandboxes/${id}/pause`, {
      method: "POST",
      headers,
      body: "{}",
    });
    expect(pause.status).toBe(204);
    const pausedTwice = await fetch(`${stack.cp.url}/sandboxes/${id}/pause`, {
      method: "POST",
      headers,
      body: "{}",
    });
    expect(pausedTwice.status).toBe(409);
    expect(await pausedTwice.json()).toMatchObject({ code: 409, message: expect.any(String) });
    const resumed = await connect({});
    expect(resumed.status).toBe(201);
    expect(((await resumed.json()) as { envdAccessToken: string }).envdAccessToken).toBe(
      body.envdAccessToken,
    );

    const missing = await fetch(`${stack.cp.url}/sandboxes/sb-00000000`, { headers });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 404, message: expect.any(String) });
    const noKey = await fetch(`${stack.cp.url}/v2/sandboxes`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ code: 401 });

    const lastPage = await fetch(`${stack.cp.url}/v2/sandboxes?limit=1000`, { headers });
    expect(lastPage.headers.get("x-next-token")).toBeNull();
    const firstPage = await fetch(`${stack.cp.url}/v2/sandboxes?limit=1`, { headers });
    expect(firstPage.headers.get("x-next-token")).toEqual(expect.any(String));

    const unsupported = await fetch(`${stack.cp.url}/v2/sandboxes`, {
      method: "POST",
      headers,
      body: JSON.stringify({ templateID: "base", autoPause: true, autoPauseMemory: false }),
    });
    expect(unsupported.status).toBe(501);
    expect(await unsupported.json()).toMatchObject({ code: 501, error_code: "not_implemented" });
    // autoResume is served, but only with autoPause (E2B's lifecycle rule).
    const alone = await fetch(`${stack.cp.url}/v2/sandboxes`, {
      method: "POST",
      headers,
      body: JSON.stringify({ templateID: "base", autoResume: { enabled: true } }),
    });
    expect(alone.status).toBe(400);
    expect(await alone.json()).toMatchObject({
      code: 400,
      message: expect.stringMatching(/autoResume needs autoPause/),
    });
  });
});
