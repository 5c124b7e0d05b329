// The free-text sandbox search the admin UI's list uses (SandboxService.list's `search`), on
// both databases: ids, templates, metadata keys, values and key=value pairs, and LIKE's own
// wildcards taken literally.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import type { Principal } from "./sandbox-types.js";

afterAll(() => releaseTestDatabases());

describe.each(DATABASE_KINDS)("sandbox search on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;
  let principal: Principal;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    user = await createKey(stack, { createRatePerMinute: 1000 });
    principal = { keyId: user.id, ownerId: user.ownerId, role: "user", name: "search" };
    ids.gold = (await createSandbox(stack, user.key, { metadata: { tier: "gold" } })).id;
    ids.percent = (await createSandbox(stack, user.key, { metadata: { note: "100%_done" } })).id;
    ids.plain = (await createSandbox(stack, user.key)).id;
    // A PostgreSQL cluster on a shared two-core machine can take a while to start.
  }, 600_000);
  afterAll(() => stack?.close());

  const search = async (text: string) =>
    (await stack.cp.sandboxes.list(principal, { search: text })).sandboxes.map((s) => s.id).sort();

  test("matches ids, templates and metadata, case-insensitively", async () => {
    expect(await search("TIER=GOLD")).toEqual([ids.gold]);
    expect(await search("gol")).toEqual([ids.gold]);
    expect(await search("tier")).toEqual([ids.gold]);
    expect(await search(ids.plain!.slice(0, 9))).toContain(ids.plain);
    expect(await search("base")).toEqual(Object.values(ids).sort());
    expect(await search("tier=silver")).toEqual([]);
  });

  test("takes % and _ literally", async () => {
    expect(await search("%")).toEqual([ids.percent]);
    expect(await search("0%_d")).toEqual([ids.percent]);
    expect(await search("_")).toEqual([ids.percent]);
  });

  test("refuses a search longer than the limit", async () => {
    await expect(stack.cp.sandboxes.list(principal, { search: "x".repeat(257) })).rejects.toThrow(
      /search must be at most 256/,
    );
  });
});
