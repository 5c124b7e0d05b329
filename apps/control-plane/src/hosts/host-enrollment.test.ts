import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey } from "../testing/api-helpers.js";
import { FakeHostAgent } from "../testing/fake-host-agent.js";
import { heartbeatBody } from "../testing/host-heartbeat.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

interface Credentials {
  hostId: string;
  jwt: string;
  refreshToken: string;
  agentToken: string;
}

const code = (r: { body: unknown }) => (r.body as { error?: { code?: string } }).error?.code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DATABASE_KINDS)("host registration, heartbeats and placement on %s", (kind) => {
  let stack: TestStack;
  const agents: FakeHostAgent[] = [];

  beforeAll(async () => {
    // The configured agent has no room for the larger sandboxes below, so they must go to the
    // registered hosts or nowhere.
    stack = await startTestStack(await freshDatabase(kind), {
      agent: { memoryMb: 1024 },
      config: {
        hostTokenLifetimes: { jwtSeconds: 2, refreshGraceSeconds: 1 },
        hostSilenceSeconds: 1,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    for (const a of agents) await a.stop();
  });

  async function token(): Promise<string> {
    const r = await stack.call("POST", "/v1/hosts/tokens", { body: {} });
    expect(r.status, r.text).toBe(201);
    return (r.body as { token: string }).token;
  }

  async function fakeHost(memoryMb = 4096): Promise<FakeHostAgent> {
    const agent = new FakeHostAgent({ memoryMb });
    await agent.start();
    agents.push(agent);
    return agent;
  }

  async function register(agent: FakeHostAgent): Promise<Credentials> {
    const r = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: await token(), url: agent.url },
    });
    expect(r.status, r.text).toBe(201);
    return r.body as Credentials;
  }

  const beat = (agent: FakeHostAgent, jwt: string, body: unknown = heartbeatBody(agent)) =>
    stack.call("POST", "/v1/hosts/heartbeat", {
      key: null,
      headers: { authorization: `Bearer ${jwt}` },
      body,
    });

  const hostCount = async () =>
    (await stack.cp.db.query<{ n: number }>("SELECT count(*)::int AS n FROM hosts")).rows[0]!.n;

  test("registration tokens are admin-only and one-use; a refused token creates no host", async () => {
    const user = await createKey(stack);
    const asUser = await stack.call("POST", "/v1/hosts/tokens", { key: user.key, body: {} });
    expect(asUser.status).toBe(403);

    const agent = await fakeHost();
    const before = await hostCount();
    const wrong = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: "wrht_not-a-token", url: agent.url },
    });
    expect(wrong.status).toBe(401);
    expect(code(wrong)).toBe("invalid_registration_token");

    const once = await token();
    const first = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: once, url: agent.url },
    });
    expect(first.status, first.text).toBe(201);
    const creds = first.body as Credentials;
    expect(creds.hostId).toMatch(/^host-[0-9a-f]{8}$/);
    expect(await hostCount()).toBe(before + 1);

    const other = await fakeHost();
    const reused = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: once, url: other.url },
    });
    expect(reused.status).toBe(401);
    expect(code(reused)).toBe("invalid_registration_token");

    const short = await stack.call("POST", "/v1/hosts/tokens", { body: { expiresInSeconds: 1 } });
    await sleep(1500);
    const expired = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: (short.body as { token: string }).token, url: other.url },
    });
    expect(expired.status).toBe(401);
    expect(code(expired)).toBe("invalid_registration_token");
    expect(await hostCount()).toBe(before + 1);

    // Only hashes are stored.
    const stored = await stack.cp.db.query<{ token_hash: string }>(
      "SELECT token_hash FROM host_registration_tokens UNION ALL SELECT token_hash FROM host_refresh_tokens",
    );
    const hashes = stored.rows.map((r) => r.token_hash);
    expect(hashes).not.toContain(once);
    expect(hashes).not.toContain(creds.refreshToken);
    const sealed = await stack.cp.db.query<{ agent_token_sealed: string }>(
      "SELECT agent_token_sealed FROM hosts WHERE id = $1",
      [creds.hostId],
    );
    expect(sealed.rows[0]!.agent_token_sealed).not.toContain(creds.agentToken);
  });

  test("heartbeats need the host's JWT; a beat shows the host online with its capacity", async () => {
    const agent = await fakeHost();
    const creds = await register(agent);
    for (const jwt of ["", "garbage", `${creds.jwt.slice(0, -2)}xx`]) {
      const refused = await beat(agent, jwt);
      expect(refused.status).toBe(401);
      expect(code(refused)).toBe("invalid_host_token");
    }
    const bad = await beat(agent, creds.jwt, { ...heartbeatBody(agent), stateVersion: "-1" });
    expect(bad.status).toBe(400);

    const ok = await beat(agent, creds.jwt);
    expect(ok.status, ok.text).toBe(204);
    const hosts = await stack.call("GET", "/v1/hosts");
    const host = (hosts.body as { hosts: Record<string, unknown>[] }).hosts.find(
      (h) => h.id === creds.hostId,
    );
    expect(host).toMatchObject({
      kind: "registered",
      status: "online",
      url: agent.url,
      capacity: { total: { vcpus: 4, memoryMb: 4096 } },
    });
  });

  test("an expired JWT answers invalid_host_token; refresh rotates, and a replayed refresh token is 401", async () => {
    const agent = await fakeHost();
    const creds = await register(agent);
    await sleep(2500);
    const expired = await beat(agent, creds.jwt);
    expect(expired.status).toBe(401);
    expect(code(expired)).toBe("invalid_host_token");

    const refreshed = await stack.call("POST", "/v1/hosts/refresh", {
      key: null,
      body: { hostId: creds.hostId, refreshToken: creds.refreshToken },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    const fresh = refreshed.body as Credentials;
    expect(fresh.refreshToken).not.toBe(creds.refreshToken);
    expect((await beat(agent, fresh.jwt)).status).toBe(204);

    // Past the grace a rotated-away token gets (host-admin.test.ts), it is a replay.
    await sleep(1500);
    const replay = await stack.call("POST", "/v1/hosts/refresh", {
      key: null,
      body: { hostId: creds.hostId, refreshToken: creds.refreshToken },
    });
    expect(replay.status).toBe(401);
    expect(code(replay)).toBe("invalid_refresh_token");
    // Another host's refresh token is not this host's.
    const other = await register(await fakeHost());
    const foreign = await stack.call("POST", "/v1/hosts/refresh", {
      key: null,
      body: { hostId: creds.hostId, refreshToken: other.refreshToken },
    });
    expect(foreign.status).toBe(401);
    expect(code(foreign)).toBe("invalid_refresh_token");
  });

  test("creates go to registered hosts with room; none: 503 no_host_available and nothing created", async () => {
    const agent = await fakeHost();
    let creds = await register(agent);
    // Past the silence window every registered host of this file is unreachable; this one
    // beats again (its short-lived JWT refreshed first), so it is the only one online.
    await sleep(1200);
    await stack.cp.monitor.tick();
    const renewed = await stack.call("POST", "/v1/hosts/refresh", {
      key: null,
      body: { hostId: creds.hostId, refreshToken: creds.refreshToken },
    });
    expect(renewed.status, renewed.text).toBe(200);
    creds = { ...creds, ...(renewed.body as Credentials) };
    expect((await beat(agent, creds.jwt)).status).toBe(204);

    const created = await stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 2048 } },
    });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { id: string }).id;
    expect(agent.sandboxes.has(id)).toBe(true);

    const count = async () =>
      (await stack.cp.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sandboxes")).rows[0]!
        .n;
    const before = await count();
    const tooBig = await stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 3072 } },
    });
    expect(tooBig.status, tooBig.text).toBe(503);
    expect(code(tooBig)).toBe("no_host_available");
    expect(await count()).toBe(before);

    // Silent past the window: unreachable, and its sandbox missing.
    await sleep(1500);
    await stack.cp.monitor.tick();
    const lost = await stack.call("GET", `/v1/sandboxes/${id}`);
    expect((lost.body as { state: string }).state).toBe("missing");
    const hosts = (await stack.call("GET", "/v1/hosts")).body as {
      hosts: { id: string; status: string }[];
    };
    expect(hosts.hosts.find((h) => h.id === creds.hostId)?.status).toBe("unreachable");
    const none = await stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 2048 } },
    });
    expect(code(none)).toBe("no_host_available");

    // It beats again (its JWT has expired meanwhile: refreshed first, as the agent does):
    // reconciled, its sandbox back to what the host says.
    const refreshed = await stack.call("POST", "/v1/hosts/refresh", {
      key: null,
      body: { hostId: creds.hostId, refreshToken: creds.refreshToken },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect((await beat(agent, (refreshed.body as Credentials).jwt)).status).toBe(204);
    const back = await stack.call("GET", `/v1/sandboxes/${id}`);
    expect((back.body as { state: string }).state).toBe("running");
  });

  test("a template build goes to an online host holding its parent, with room, by the placement policy", async () => {
    // Every host registered earlier in this file is silent past the window: unreachable.
    await sleep(1200);
    await stack.cp.monitor.tick();
    const plain = await fakeHost(4096);
    const holder = new FakeHostAgent({ memoryMb: 8192, templates: ["base", "tpl-parent"] });
    await holder.start();
    agents.push(holder);
    const creds = new Map<FakeHostAgent, Credentials>();
    for (const a of [plain, holder]) creds.set(a, await register(a));
    // Beats just before each group, so the monitor (1 s silence here) never sees them silent;
    // the JWTs live 2 s here, so each is refreshed first, as the agent does.
    const fresh = async () => {
      for (const [a, c] of creds) {
        const renewed = await stack.call("POST", "/v1/hosts/refresh", {
          key: null,
          body: { hostId: c.hostId, refreshToken: c.refreshToken },
        });
        expect(renewed.status, renewed.text).toBe(200);
        const next = { ...c, ...(renewed.body as Credentials) };
        creds.set(a, next);
        expect((await beat(a, next.jwt)).status).toBe(204);
      }
    };
    const placed = (request: { fromTemplate?: string; memoryMb?: number }) =>
      stack.cp.scheduler.placeBuild(request).then((p) => p.hostId);
    const holderId = creds.get(holder)!.hostId;
    const plainId = creds.get(plain)!.hostId;

    await fresh();
    for (let i = 0; i < 6; i++) {
      expect(await placed({ fromTemplate: "tpl-parent", memoryMb: 1024 })).toBe(holderId);
    }
    // Only the holder has 6000 MiB (the configured agent has 1024, the plain host 4096).
    for (let i = 0; i < 6; i++) expect(await placed({ memoryMb: 6000 })).toBe(holderId);
    // Builds from an image spread like sandboxes (least loaded of 2 drawn; all empty here),
    // rather than all landing on the first host listed.
    await fresh();
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await placed({ memoryMb: 512 }));
    expect(seen).toContain(plainId);
    expect(seen).toContain(holderId);

    await fresh();
    await expect(placed({ fromTemplate: "tpl-nowhere" })).rejects.toMatchObject({
      code: "template_not_found",
    });
    await expect(placed({ memoryMb: 100_000 })).rejects.toMatchObject({
      code: "no_host_available",
    });
  });
});
