import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { markHostSandboxesMissing } from "../store/host-sandboxes-store.js";
import { findSandbox } from "../store/sandbox-store.js";
import { sandboxesWritten } from "../store/sandbox-writes.js";
import { createKey, createSandbox, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import { EndpointCache } from "./endpoint-cache.js";
import { ServiceError } from "./errors.js";

afterAll(() => releaseTestDatabases());

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof ServiceError ? error.code : String(error)),
  );

// Every case first resolves the sandbox (so its row is cached), then changes its state the way
// the control plane does, and asks again at once: well inside the cache's TTL.
describe("the proxy's endpoint look-up after a state change (PGlite)", () => {
  let stack: TestStack;
  let user: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    user = await createKey(stack, { createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  test("a paused sandbox is not running any more", async () => {
    const s = await createSandbox(stack, user.key);
    expect((await stack.cp.sandboxes.endpoint(null, s.id)).id).toBe(s.id);
    const paused = await stack.call("POST", `/v1/sandboxes/${s.id}/pause`, { key: user.key });
    expect(paused.status).toBeLessThan(300);
    expect(await codeOf(stack.cp.sandboxes.endpoint(null, s.id))).toBe("sandbox_not_running");
  });

  test("a killed sandbox is gone", async () => {
    const s = await createSandbox(stack, user.key);
    expect((await stack.cp.sandboxes.endpoint(null, s.id)).id).toBe(s.id);
    const killed = await stack.call("DELETE", `/v1/sandboxes/${s.id}`, { key: user.key });
    expect(killed.status).toBeLessThan(300);
    expect(await codeOf(stack.cp.sandboxes.endpoint(null, s.id))).not.toBe("resolved");
  });

  test("a sandbox whose host was lost is not running", async () => {
    const s = await createSandbox(stack, user.key);
    const endpoint = await stack.cp.sandboxes.endpoint(null, s.id);
    await markHostSandboxesMissing(stack.cp.db, endpoint.hostId);
    expect(await codeOf(stack.cp.sandboxes.endpoint(null, s.id))).toBe("sandbox_not_running");
  });

  test("another owner's principal does not reach a cached sandbox", async () => {
    const other = await createKey(stack, { name: "other" });
    const s = await createSandbox(stack, user.key);
    await stack.cp.sandboxes.endpoint(null, s.id);
    const principal = await stack.cp.keys.authenticate(other.key);
    expect(await codeOf(stack.cp.sandboxes.endpoint(principal, s.id))).toBe("sandbox_not_found");
  });
});

describe("the endpoint cache", () => {
  let stack: TestStack;
  let user: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    user = await createKey(stack, { createRatePerMinute: 1000 });
  });
  afterAll(() => stack?.close());

  const runningRow = async () => {
    const s = await createSandbox(stack, user.key);
    return (await findSandbox(stack.cp.db, s.id))!;
  };

  test("a row written under it is read again after the TTL, not before", async () => {
    let now = 0;
    const cache = new EndpointCache(2000, 100, () => now);
    const row = await runningRow();
    cache.put(row, cache.mark());
    now = 1999;
    expect(cache.get(row.id)).toBe(row);
    now = 2000;
    expect(cache.get(row.id)).toBeUndefined();
  });

  test("a write heard drops the entry; a read that raced a write is not kept", async () => {
    const cache = new EndpointCache();
    const row = await runningRow();
    cache.put(row, cache.mark());
    sandboxesWritten([row.id]);
    expect(cache.get(row.id)).toBeUndefined();
    const mark = cache.mark();
    sandboxesWritten(["sb-unrelated"]);
    cache.put(row, mark);
    expect(cache.get(row.id)).toBeUndefined();
  });

  test("only running rows are kept, and at most `max` of them", async () => {
    const cache = new EndpointCache(60_000, 2);
    const rows = [await runningRow(), await runningRow(), await runningRow()];
    for (const row of rows) cache.put(row, cache.mark());
    expect(cache.size).toBe(2);
    expect(cache.get(rows[0]!.id)).toBeUndefined();
    expect(cache.get(rows[2]!.id)).toBe(rows[2]);
    const paused = { ...rows[0]!, state: "paused" as const };
    cache.put(paused, cache.mark());
    expect(cache.get(paused.id)).toBeUndefined();
  });
});
