// A snapshot carries its sandbox's host-directory mounts to every sandbox made from it, so
// snapshot and fork of such a sandbox are an admin's, as a create that asks for mounts is
// (review M2). Real control plane and database; the fake agent reports the mounts.
import { ERROR_CODES } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

const code = (r: { body: unknown }) => (r.body as { error?: { code?: string } }).error?.code;

describe.each(DATABASE_KINDS)("snapshots of a sandbox with mounts on %s", (kind) => {
  let stack: TestStack;
  let user: UserKey;
  let admin: UserKey;
  let id: string;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    user = await createKey(stack);
    // An admin key of the same owner: it may snapshot what the user key may not.
    admin = await createKey(stack, { role: "admin", ownerId: user.ownerId });
    id = (await createSandbox(stack, user.key)).id;
    held().mounts = ["/workspace"];
  });
  afterAll(() => stack?.close());

  function held() {
    const s = stack.agent.sandboxes.get(id);
    if (!s) throw new Error(`the fake agent does not hold ${id}`);
    return s;
  }

  const snapshotCount = async () =>
    Number(
      (await stack.cp.db.query<{ n: string }>("SELECT count(*) AS n FROM snapshots")).rows[0]?.n,
    );

  test("a user key's snapshot and fork are refused with mounts_not_allowed, creating nothing", async () => {
    const sandboxesBefore = stack.agent.sandboxes.size;
    for (const path of [`/v1/sandboxes/${id}/snapshots`, `/v1/sandboxes/${id}/fork`]) {
      const r = await stack.call("POST", path, { key: user.key, body: {} });
      expect(r.status, `${path}: ${r.text}`).toBe(ERROR_CODES.mounts_not_allowed.status);
      expect(code(r)).toBe("mounts_not_allowed");
    }
    expect(await snapshotCount()).toBe(0);
    expect(stack.agent.sandboxes.size).toBe(sandboxesBefore);
    expect(stack.agent.calls.some((c) => c.method === "getSandbox" && c.sandboxId === id)).toBe(
      true,
    );
  });

  test("an admin key of the owner passes the rule (the fake agent then takes no snapshot)", async () => {
    const r = await stack.call("POST", `/v1/sandboxes/${id}/snapshots`, {
      key: admin.key,
      body: {},
    });
    expect(code(r)).not.toBe("mounts_not_allowed");
    // Without mounts a user key passes it too.
    held().mounts = [];
    const plain = await stack.call("POST", `/v1/sandboxes/${id}/snapshots`, {
      key: user.key,
      body: {},
    });
    expect(code(plain)).not.toBe("mounts_not_allowed");
  });
});
