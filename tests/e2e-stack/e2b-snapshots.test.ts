import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// The official E2B SDK's snapshots and forks, unchanged, against the real stack (control
// plane, host agent, runsc): files AND running processes carry over, the source keeps running
// with its id, and bad input is refused with nothing created.

/** A process writing a counter five times a second, detached from the command that starts it. */
const COUNTER =
  "setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > /home/user/counter; sleep 0.2; done' " +
  "</dev/null >/dev/null 2>&1 &";

async function counter(sbx: Sandbox): Promise<number> {
  return Number((await sbx.commands.run("cat /home/user/counter")).stdout.trim());
}

/** Waits until the sandbox's counter passes `after` (its writer is alive and counting). */
async function counting(sbx: Sandbox, after: number): Promise<number> {
  let seen = after;
  await waitFor(
    async () => {
      seen = await counter(sbx);
      return seen > after;
    },
    60_000,
    `the counter of ${sbx.sandboxId} to pass ${after}`,
  );
  return seen;
}

describe("E2B snapshots and fork (official SDK, real agent)", () => {
  let stack: Stack;
  let user: UserKey;
  let other: UserKey;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string; requestTimeoutMs: number };
  let source: Sandbox;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    user = await stack.key({ name: "snapshot user" });
    other = await stack.key({ name: "someone else" });
    expect(other.ownerId).not.toBe(user.ownerId);
    opts = {
      apiKey: user.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
      requestTimeoutMs: 300_000,
    };
    source = await Sandbox.create("base", { ...opts, timeoutMs: 600_000 });
    await source.files.write("/home/user/note.txt", "kept");
    await source.commands.run(COUNTER);
    await counting(source, 0);
  });
  afterAll(() => stack?.close());

  const sandboxIds = async (key: string) => {
    const r = await stack.call("GET", "/v1/sandboxes", { key });
    return (r.body as { sandboxes: Array<{ id: string; state: string }> }).sandboxes
      .filter((s) => ["starting", "running", "paused"].includes(s.state))
      .map((s) => s.id);
  };

  test("createSnapshot, list, create from it, delete", async () => {
    const endBefore = (await source.getInfo()).endAt;
    const before = await counter(source);
    const snap = await source.createSnapshot({ name: "my-snap" });
    expect(snap.snapshotId).toMatch(/^snap-[0-9a-f]{8}$/);
    expect(snap.names).toEqual(["my-snap"]);

    // The source keeps running, with its id and end time, and its process counts on.
    expect(await source.isRunning()).toBe(true);
    expect((await source.getInfo()).endAt).toEqual(endBefore);
    await counting(source, before);

    const listed = await Sandbox.listSnapshots({
      ...opts,
      sandboxId: source.sandboxId,
    }).nextItems();
    expect(listed).toEqual([{ snapshotId: snap.snapshotId, names: ["my-snap"] }]);
    const byName = await Sandbox.listSnapshots({ ...opts, name: "my-snap" }).nextItems();
    expect(byName.map((s) => s.snapshotId)).toEqual([snap.snapshotId]);
    // Another owner sees none of it.
    expect(await Sandbox.listSnapshots({ ...opts, apiKey: other.key }).nextItems()).toEqual([]);

    const restored = await Sandbox.create(snap.snapshotId, opts);
    expect(restored.sandboxId).not.toBe(source.sandboxId);
    expect(await restored.files.read("/home/user/note.txt")).toBe("kept");
    const at = await counter(restored);
    expect(at).toBeGreaterThanOrEqual(before);
    await counting(restored, at);
    await restored.kill();

    expect(await Sandbox.deleteSnapshot(snap.snapshotId, opts)).toBe(true);
    expect(await Sandbox.deleteSnapshot(snap.snapshotId, opts)).toBe(false);
    await expect(Sandbox.create(snap.snapshotId, opts)).rejects.toThrow(/not found/i);
  });

  test("fork ×3: each its own sandbox with the source's files and processes", async () => {
    const before = await counter(source);
    const forks = await Sandbox.fork(source.sandboxId, { ...opts, count: 3, timeoutMs: 300_000 });
    expect(forks).toHaveLength(3);
    const sandboxes = forks.map((f) => {
      if (!(f instanceof Sandbox)) throw f;
      return f;
    });
    expect(new Set(sandboxes.map((s) => s.sandboxId)).size).toBe(3);
    expect(sandboxes.map((s) => s.sandboxId)).not.toContain(source.sandboxId);
    for (const [i, fork] of sandboxes.entries()) {
      expect(await fork.files.read("/home/user/note.txt")).toBe("kept");
      await counting(fork, before);
      await fork.files.write("/home/user/who", `fork-${i}`);
    }
    // Independent: each sees only its own write, and the source none.
    for (const [i, fork] of sandboxes.entries()) {
      expect(await fork.files.read("/home/user/who")).toBe(`fork-${i}`);
    }
    expect(await source.files.exists("/home/user/who")).toBe(false);
    expect(await source.isRunning()).toBe(true);
    // The fork's snapshot is not left behind as one of the owner's.
    expect(await Sandbox.listSnapshots(opts).nextItems()).toEqual([]);
    for (const fork of sandboxes) await fork.kill();
  });

  test("/v1: snapshot, list, fork, delete; bad input refused", async () => {
    const key = user.key;
    const snap = await stack.call("POST", `/v1/sandboxes/${source.sandboxId}/snapshots`, {
      key,
      body: { name: "v1-snap" },
    });
    expect(snap.status, snap.text).toBe(201);
    const made = snap.body as { id: string; name: string; sourceSandboxId: string };
    // One host without an artifact store: the snapshot lives on that host alone.
    expect(made).toMatchObject({
      name: "v1-snap",
      sourceSandboxId: source.sandboxId,
      stored: false,
    });
    const listed = await stack.call("GET", `/v1/snapshots?name=v1-snap`, { key });
    expect(
      (listed.body as { snapshots: Array<{ id: string }> }).snapshots.map((x) => x.id),
    ).toEqual([made.id]);
    const forked = await stack.call("POST", `/v1/sandboxes/${source.sandboxId}/fork`, {
      key,
      body: { count: 1 },
    });
    expect(forked.status, forked.text).toBe(201);
    const [fork] = (forked.body as { forks: Array<{ sandbox?: { id: string } }> }).forks;
    expect(fork?.sandbox?.id).toMatch(/^sb-/);
    await stack.call("DELETE", `/v1/sandboxes/${fork?.sandbox?.id}`, { key });
    for (const body of [{ count: 0 }, { count: 101 }, { count: 1, extra: true }]) {
      const bad = await stack.call("POST", `/v1/sandboxes/${source.sandboxId}/fork`, { key, body });
      expect(bad.status, bad.text).toBe(400);
      expect(bad.body).toMatchObject({ error: { code: "invalid_request" } });
    }
    const badName = await stack.call("POST", `/v1/sandboxes/${source.sandboxId}/snapshots`, {
      key,
      body: { name: "Not A Name" },
    });
    expect(badName.status).toBe(400);
    expect((await stack.call("DELETE", `/v1/snapshots/${made.id}`, { key })).status).toBe(204);
    const gone = await stack.call("GET", `/v1/snapshots/${made.id}`, { key });
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: { code: "snapshot_not_found" } });
  });

  test("bad input: right 4xx, nothing created", async () => {
    const ids = await sandboxIds(user.key);
    for (const count of [0, 101]) {
      const r = await stack.call("POST", `/sandboxes/${source.sandboxId}/fork`, {
        key: user.key,
        body: { count },
      });
      expect(r.status, r.text).toBe(400);
      expect(r.body).toMatchObject({ code: 400 });
    }
    const unknownSandbox = await stack.call("POST", "/sandboxes/sb-0000dead/snapshots", {
      key: user.key,
      body: {},
    });
    expect(unknownSandbox.status).toBe(404);
    await expect(Sandbox.create("snap-0000dead", opts)).rejects.toThrow(/not found/i);

    // Another owner's snapshot is not found for anyone else, to create from or to delete.
    const mine = await source.createSnapshot();
    const theirs = { ...opts, apiKey: other.key };
    await expect(Sandbox.create(mine.snapshotId, theirs)).rejects.toThrow(/not found/i);
    expect(await Sandbox.deleteSnapshot(mine.snapshotId, theirs)).toBe(false);
    const theirFork = await stack.call("POST", `/sandboxes/${source.sandboxId}/fork`, {
      key: other.key,
      body: { count: 1 },
    });
    expect(theirFork.status).toBe(404);
    expect(await sandboxIds(other.key)).toEqual([]);
    expect(await sandboxIds(user.key)).toEqual(ids);
    expect(await Sandbox.deleteSnapshot(mine.snapshotId, opts)).toBe(true);
  });
});
