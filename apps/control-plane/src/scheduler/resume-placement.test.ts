// Where a hibernated sandbox resumes, against the real control plane and database with two
// registered fake agents: the host it left when that host can take it, else the policy's pick.
// Each fake keeps what it hibernated to itself (like a local-directory artifact store), so a
// resume sent anywhere else fails: the preference is what makes it work. On every path the
// resuming row (which still names the host it left) is not counted against that host's room.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FakeHostAgent } from "../testing/fake-host-agent.js";
import { heartbeatBody } from "../testing/host-heartbeat.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

interface Joined {
  agent: FakeHostAgent;
  hostId: string;
}

describe("resume of a hibernated sandbox", () => {
  let stack: TestStack;
  const joined: Joined[] = [];

  beforeAll(async () => {
    // Round-robin: without the preference, the resume after a create goes to the other host.
    // The configured agent has no room for the 2 GiB sandboxes: only the two joined hosts count.
    stack = await startTestStack(await freshDatabase("pglite"), {
      agent: { memoryMb: 1024 },
      config: { schedulerPolicy: "round-robin" },
    });
    for (let i = 0; i < 2; i++) {
      const agent = new FakeHostAgent({ memoryMb: 4096 });
      await agent.start();
      const token = await stack.call("POST", "/v1/hosts/tokens", { body: {} });
      const r = await stack.call("POST", "/v1/hosts/register", {
        key: null,
        body: { token: (token.body as { token: string }).token, url: agent.url },
      });
      expect(r.status, r.text).toBe(201);
      const creds = r.body as { hostId: string; jwt: string };
      const beat = await stack.call("POST", "/v1/hosts/heartbeat", {
        key: null,
        headers: { authorization: `Bearer ${creds.jwt}` },
        body: heartbeatBody(agent),
      });
      expect(beat.status, beat.text).toBe(204);
      joined.push({ agent, hostId: creds.hostId });
    }
  });
  afterAll(async () => {
    await stack?.close();
    for (const j of joined) await j.agent.stop();
  });

  const show = async (id: string) =>
    (await stack.call("GET", `/v1/sandboxes/${id}`)).body as { state: string; hostId: string };

  async function hibernated(): Promise<{ id: string; home: Joined; other: Joined }> {
    const created = await stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 2048 } },
    });
    expect(created.status, created.text).toBe(201);
    const { id, hostId } = created.body as { id: string; hostId: string };
    const home = joined.find((j) => j.hostId === hostId)!;
    const other = joined.find((j) => j.hostId !== hostId)!;
    expect(home, `placed on a joined host, not ${hostId}`).toBeDefined();
    expect((await stack.call("POST", `/v1/sandboxes/${id}/pause`)).status).toBe(200);
    const h = await stack.call("POST", `/v1/sandboxes/${id}/hibernate`);
    expect(h.status, h.text).toBe(200);
    expect(home.agent.hibernated.has(id)).toBe(true);
    return { id, home, other };
  }

  test("goes back to the host it left, though the policy's turn is the other host's", async () => {
    const { id, home, other } = await hibernated();
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await show(id)).toMatchObject({ state: "running", hostId: home.hostId });
    expect(home.agent.sandboxes.has(id)).toBe(true);
    expect(other.agent.callsOf("restoreHibernatedSandbox")).toBe(0);
    await stack.call("DELETE", `/v1/sandboxes/${id}`);
  });

  test("goes elsewhere when the host it left is drained", async () => {
    const { id, home, other } = await hibernated();
    const drained = await stack.call("POST", `/v1/hosts/${home.hostId}/drain`);
    expect(drained.status, drained.text).toBe(200);
    // A shared store: the other host can read the copy too.
    other.agent.hibernated.set(id, home.agent.hibernated.get(id)!);
    home.agent.hibernated.delete(id);
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await show(id)).toMatchObject({ state: "running", hostId: other.hostId });
    expect(other.agent.sandboxes.has(id)).toBe(true);
    expect((await stack.call("POST", `/v1/hosts/${home.hostId}/undrain`)).status).toBe(200);
    await stack.call("DELETE", `/v1/sandboxes/${id}`);
  });

  /** `n` 2 GiB sandboxes on `home` (the other host drained meanwhile, so none go there). */
  async function fill(home: Joined, other: Joined, n: number): Promise<string[]> {
    expect((await stack.call("POST", `/v1/hosts/${other.hostId}/drain`)).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await stack.call("POST", "/v1/sandboxes", {
        body: { template: "base", resources: { memoryMb: 2048 } },
      });
      expect(r.status, r.text).toBe(201);
      expect((r.body as { hostId: string }).hostId).toBe(home.hostId);
      ids.push((r.body as { id: string }).id);
    }
    expect((await stack.call("POST", `/v1/hosts/${other.hostId}/undrain`)).status).toBe(200);
    return ids;
  }

  test("its own share does not count against the host it left: half full, it goes back", async () => {
    const { id, home } = await hibernated();
    // 2 GiB of 4 placed beside it: room for it, though its resuming row still names the host.
    const fillers = await fill(home, joined.find((j) => j !== home)!, 1);
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await show(id)).toMatchObject({ state: "running", hostId: home.hostId });
    for (const f of [...fillers, id]) await stack.call("DELETE", `/v1/sandboxes/${f}`);
  });

  test("goes elsewhere when the host it left has no room for it any more", async () => {
    const { id, home, other } = await hibernated();
    const fillers = await fill(home, other, 2);
    other.agent.hibernated.set(id, home.agent.hibernated.get(id)!);
    home.agent.hibernated.delete(id);
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await show(id)).toMatchObject({ state: "running", hostId: other.hostId });
    for (const f of [...fillers, id]) await stack.call("DELETE", `/v1/sandboxes/${f}`);
  });
});

describe("resume of a hibernated sandbox on the one configured host", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"), { agent: { memoryMb: 4096 } });
  });
  afterAll(() => stack?.close());

  test("its own share does not count against the host: beside 2 GiB of 4, its 2 GiB fit", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await stack.call("POST", "/v1/sandboxes", {
        body: { template: "base", resources: { memoryMb: 2048 } },
      });
      expect(r.status, r.text).toBe(201);
      ids.push((r.body as { id: string }).id);
    }
    const [id, neighbour] = ids as [string, string];
    expect((await stack.call("POST", `/v1/sandboxes/${id}/pause`)).status).toBe(200);
    expect((await stack.call("POST", `/v1/sandboxes/${id}/hibernate`)).status).toBe(200);
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(stack.agent.sandboxes.has(id)).toBe(true);
    // Full now: a third is refused, so the room check above was a real one.
    const third = await stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 2048 } },
    });
    expect(third.status, third.text).toBe(503);
    for (const s of [id, neighbour]) await stack.call("DELETE", `/v1/sandboxes/${s}`);
  });
});
