// Deleting and draining registered hosts, and the refresh token's grace window, against the
// real control plane and database with fake agents (the e2e twin: tests/e2e-stack/fleet-netns).
import { ERROR_CODES, HOST_DRAIN_NOTE } from "@wrenn/contract";
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
}

const code = (r: { body: unknown }) => (r.body as { error?: { code?: string } }).error?.code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GRACE_SECONDS = 2;

describe.each(DATABASE_KINDS)("host delete, drain and refresh grace on %s", (kind) => {
  let stack: TestStack;
  const agents: FakeHostAgent[] = [];

  beforeAll(async () => {
    // The configured agent has no room for the 2 GiB sandboxes below: they go to registered
    // hosts or nowhere.
    stack = await startTestStack(await freshDatabase(kind), {
      agent: { memoryMb: 1024 },
      config: { hostTokenLifetimes: { refreshGraceSeconds: GRACE_SECONDS } },
    });
  });
  afterAll(async () => {
    await stack?.close();
    for (const a of agents) await a.stop();
  });

  async function joined(): Promise<{ agent: FakeHostAgent; creds: Credentials }> {
    const agent = new FakeHostAgent({ memoryMb: 4096 });
    await agent.start();
    agents.push(agent);
    const token = await stack.call("POST", "/v1/hosts/tokens", { body: {} });
    const r = await stack.call("POST", "/v1/hosts/register", {
      key: null,
      body: { token: (token.body as { token: string }).token, url: agent.url },
    });
    expect(r.status, r.text).toBe(201);
    const creds = r.body as Credentials;
    expect((await beat(agent, creds.jwt)).status).toBe(204);
    return { agent, creds };
  }

  const beat = (agent: FakeHostAgent, jwt: string) =>
    stack.call("POST", "/v1/hosts/heartbeat", {
      key: null,
      headers: { authorization: `Bearer ${jwt}` },
      body: heartbeatBody(agent),
    });
  const refresh = (hostId: string, refreshToken: string) =>
    stack.call("POST", "/v1/hosts/refresh", { key: null, body: { hostId, refreshToken } });
  const create = () =>
    stack.call("POST", "/v1/sandboxes", {
      body: { template: "base", resources: { memoryMb: 2048 } },
    });
  const hostRow = async (id: string) =>
    (
      (await stack.call("GET", "/v1/hosts")).body as {
        hosts: { id: string; drained: boolean; status: string }[];
      }
    ).hosts.find((h) => h.id === id);
  const stateOf = async (id: string) =>
    ((await stack.call("GET", `/v1/sandboxes/${id}`)).body as { state: string }).state;

  // The host's refresh tokens not revoked (hashes only are stored, so counted, not named).
  const liveRefreshTokens = async (hostId: string) =>
    Number(
      (
        await stack.cp.db.query<{ n: string }>(
          "SELECT count(*) AS n FROM host_refresh_tokens WHERE host_id = $1 AND revoked_at IS NULL AND expires_at > now()",
          [hostId],
        )
      ).rows[0]?.n,
    );

  test("a rotated-away refresh token works within the grace window, then is a refused replay", async () => {
    const { creds } = await joined();
    const first = await refresh(creds.hostId, creds.refreshToken);
    expect(first.status, first.text).toBe(200);
    // The answer never reached the agent: it still holds the old token, and is not locked out.
    const again = await refresh(creds.hostId, creds.refreshToken);
    expect(again.status, again.text).toBe(200);
    const newest = again.body as Credentials;
    expect(newest.refreshToken).not.toBe((first.body as Credentials).refreshToken);
    // The grace runs from the first rotation, not from each use.
    await sleep(GRACE_SECONDS * 1000 + 1500);
    const replay = await refresh(creds.hostId, creds.refreshToken);
    expect(replay.status).toBe(401);
    expect(code(replay)).toBe("invalid_refresh_token");
  });

  test("replays inside the grace window leave one live refresh token; the lost answer's token is dead", async () => {
    const { creds } = await joined();
    const answers: Credentials[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await refresh(creds.hostId, creds.refreshToken);
      expect(r.status, r.text).toBe(200);
      answers.push(r.body as Credentials);
    }
    // Each use revoked what the one before issued: no chains of its own for a kept copy.
    expect(await liveRefreshTokens(creds.hostId)).toBe(1);
    const [lost, , kept] = answers as [Credentials, Credentials, Credentials];
    // Discarded before it was ever spent: using it is a replay, which ends the whole family.
    const stale = await refresh(creds.hostId, lost.refreshToken);
    expect(stale.status, stale.text).toBe(401);
    expect(code(stale)).toBe("invalid_refresh_token");
    expect(await liveRefreshTokens(creds.hostId)).toBe(0);
    const afterKill = await refresh(creds.hostId, kept.refreshToken);
    expect(afterKill.status).toBe(401);
    // Even the original, still inside its grace window, no longer works.
    expect((await refresh(creds.hostId, creds.refreshToken)).status).toBe(401);
  });

  test("a reuse after the grace window revokes the host's whole refresh-token family", async () => {
    const { creds } = await joined();
    const first = await refresh(creds.hostId, creds.refreshToken);
    expect(first.status, first.text).toBe(200);
    const current = (first.body as Credentials).refreshToken;
    const next = await refresh(creds.hostId, current);
    expect(next.status, next.text).toBe(200);
    const newest = (next.body as Credentials).refreshToken;
    expect(await liveRefreshTokens(creds.hostId)).toBe(1);
    await sleep(GRACE_SECONDS * 1000 + 1500);
    const replay = await refresh(creds.hostId, creds.refreshToken);
    expect(replay.status).toBe(401);
    expect(code(replay)).toBe("invalid_refresh_token");
    // The thief may hold the newest one too: it goes with the family.
    expect(await liveRefreshTokens(creds.hostId)).toBe(0);
    const killed = await refresh(creds.hostId, newest);
    expect(killed.status).toBe(401);
    expect(code(killed)).toBe("invalid_refresh_token");
  });

  test("drain: no new placements there, its sandbox keeps running, twice is the same; undrain", async () => {
    const { agent, creds } = await joined();
    // Placed on this host or the first test's; either is drained below.
    const placed = await create();
    expect(placed.status, placed.text).toBe(201);
    const id = (placed.body as { id: string; hostId: string }).id;
    const hostId = (placed.body as { hostId: string }).hostId;
    await stack.call("POST", `/v1/sandboxes/${id}/pause`);
    for (let i = 0; i < 2; i++) {
      const drained = await stack.call("POST", `/v1/hosts/${hostId}/drain`);
      expect(drained.status, drained.text).toBe(200);
      expect(drained.body).toMatchObject({
        host: { id: hostId, drained: true },
        pausedSandboxes: [id],
        note: HOST_DRAIN_NOTE,
      });
    }
    expect((await hostRow(hostId))?.drained).toBe(true);
    // Other registered hosts of this file may still take it; drain them all to see the refusal.
    const others = (
      (await stack.call("GET", "/v1/hosts")).body as { hosts: { id: string; kind: string }[] }
    ).hosts.filter((h) => h.kind === "registered" && h.id !== hostId);
    for (const h of others) await stack.call("POST", `/v1/hosts/${h.id}/drain`);
    const refused = await create();
    expect(refused.status, refused.text).toBe(503);
    expect(code(refused)).toBe("no_host_available");
    // What it holds stays: the paused sandbox resumes there.
    const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await stateOf(id)).toBe("running");

    const undrained = await stack.call("POST", `/v1/hosts/${creds.hostId}/undrain`);
    expect(undrained.status, undrained.text).toBe(200);
    expect((undrained.body as { host: { drained: boolean } }).host.drained).toBe(false);
    const after = await create();
    expect(after.status, after.text).toBe(201);
    expect((after.body as { hostId: string }).hostId).toBe(creds.hostId);
    expect(agent.sandboxes.has((after.body as { id: string }).id)).toBe(true);
    await stack.call("DELETE", `/v1/sandboxes/${(after.body as { id: string }).id}`);
    await stack.call("DELETE", `/v1/sandboxes/${id}`);
  });

  test("delete: unknown 404, with sandboxes 409 naming them (nothing lost), force destroys them; the host's tokens then answer host_deleted", async () => {
    const unknown = await stack.call("DELETE", "/v1/hosts/host-00000000");
    expect(unknown.status).toBe(404);
    expect(code(unknown)).toBe("host_not_found");
    const user = await createKey(stack);
    const asUser = await stack.call("DELETE", "/v1/hosts/host-00000000", { key: user.key });
    expect(asUser.status).toBe(403);
    const configured = await stack.call("DELETE", `/v1/hosts/${stack.cp.localHostId}`);
    expect(configured.status, configured.text).toBe(409);

    const { agent, creds } = await joined();
    // Every other registered host drained: the sandboxes go to this one.
    for (const h of (
      (await stack.call("GET", "/v1/hosts")).body as { hosts: { id: string; kind: string }[] }
    ).hosts) {
      if (h.kind === "registered" && h.id !== creds.hostId) {
        await stack.call("POST", `/v1/hosts/${h.id}/drain`);
      }
    }
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await create();
      expect(r.status, r.text).toBe(201);
      expect((r.body as { hostId: string }).hostId).toBe(creds.hostId);
      ids.push((r.body as { id: string }).id);
    }
    ids.sort();
    // Snapshots it took (the fake agent takes none: their records, as a snapshot leaves them):
    // one only it holds, and one its agent reported on the shared store.
    const owner = (
      await stack.cp.db.query<{ owner_id: string }>(
        "SELECT owner_id FROM sandboxes WHERE id = $1",
        [ids[0]],
      )
    ).rows[0]?.owner_id;
    const snapId = "snap-0000a5a5";
    const storedId = "snap-0000a5a6";
    for (const [id, stored] of [
      [snapId, null],
      [storedId, "now"],
    ] as const) {
      await stack.cp.db.query(
        `INSERT INTO snapshots (id, owner_id, source_sandbox_id, host_id, template, vcpus, memory_mb, disk_mb, stored_at)
         VALUES ($1, $2, $3, $4, 'base', 1, 2048, 1024, $5::timestamptz)`,
        [id, owner, ids[0], creds.hostId, stored],
      );
    }

    const refused = await stack.call("DELETE", `/v1/hosts/${creds.hostId}`);
    expect(refused.status, refused.text).toBe(409);
    expect(code(refused)).toBe("host_in_use");
    expect(ERROR_CODES.host_in_use.status).toBe(409);
    for (const id of ids) expect(refused.text).toContain(id);
    expect(refused.text).toContain(snapId);
    // The stored one does not hold the host: it outlives it.
    expect(refused.text).not.toContain(storedId);
    expect(await hostRow(creds.hostId)).toBeDefined();
    for (const id of ids) expect(await stateOf(id)).toBe("running");
    expect([...agent.sandboxes.keys()].sort()).toEqual(ids);

    const forced = await stack.call("DELETE", `/v1/hosts/${creds.hostId}?force=true`);
    expect(forced.status, forced.text).toBe(200);
    expect(forced.body).toEqual({ id: creds.hostId, destroyedSandboxes: ids });
    expect(agent.sandboxes.size).toBe(0);
    for (const id of ids) {
      const row = await stack.cp.db.query<{ state: string; stop_reason: string; host_id: string }>(
        "SELECT state, stop_reason, host_id FROM sandboxes WHERE id = $1",
        [id],
      );
      // Ended the normal way, and its record keeps where it ran.
      expect(row.rows[0]).toEqual({
        state: "stopped",
        stop_reason: "destroyed",
        host_id: creds.hostId,
      });
    }
    expect(await hostRow(creds.hostId)).toBeUndefined();
    // Its snapshot's record went with it: listed nowhere, restorable nowhere.
    const snapRows = await stack.cp.db.query("SELECT id FROM snapshots WHERE id = $1", [snapId]);
    expect(snapRows.rows).toEqual([]);
    expect((await stack.call("GET", `/v1/snapshots/${snapId}`)).status).toBe(404);
    // The stored one is kept, for any host on the store to restore.
    const kept = await stack.cp.db.query("SELECT host_id FROM snapshots WHERE id = $1", [storedId]);
    expect(kept.rows).toEqual([{ host_id: creds.hostId }]);
    expect(stack.cp.registry.all().some((h) => h.id === creds.hostId)).toBe(false);

    const beatAfter = await beat(agent, creds.jwt);
    expect(beatAfter.status, beatAfter.text).toBe(403);
    expect(code(beatAfter)).toBe("host_deleted");
    const refreshAfter = await refresh(creds.hostId, creds.refreshToken);
    expect(refreshAfter.status, refreshAfter.text).toBe(403);
    expect(code(refreshAfter)).toBe("host_deleted");
    const twice = await stack.call("DELETE", `/v1/hosts/${creds.hostId}`);
    expect(twice.status).toBe(404);
  });
});
