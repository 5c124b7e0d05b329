import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ServiceError } from "../../service/errors.js";
import type { Principal } from "../../service/sandbox-types.js";
import { createKey, createSandbox, type UserKey } from "../../testing/api-helpers.js";
import {
  startTestStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";
import { Fleet } from "./fleet.js";

// The admin UI reaches every owner's sandboxes through the sandbox service with its own
// principal: the service decides who may, and audit names the admin's key. The host agent is
// the in-process fake; the service and database are real.
afterAll(() => releaseTestDatabases());

async function notFound(call: Promise<unknown>): Promise<void> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServiceError);
  expect((error as ServiceError).code).toBe("sandbox_not_found");
}

describe("the admin fleet through the sandbox service", () => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;
  let admin: Principal;
  let bobPrincipal: Principal;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"), {
      agent: { templates: ["base"] },
    });
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
    admin = { ...(await stack.cp.keys.authenticate(TEST_ADMIN_KEY)), reach: "all-owners" };
    bobPrincipal = await stack.cp.keys.authenticate(bob.key);
  });
  afterAll(() => stack?.close());

  test("an admin's action on another owner's sandbox is audited with the admin's key", async () => {
    const { id } = await createSandbox(stack, alice.key, { template: "base" });
    const fleet = new Fleet({ sandboxes: stack.cp.sandboxes, keys: stack.cp.keys });

    expect((await fleet.find(admin, id)).ownerId).toBe(alice.ownerId);
    const listed = await fleet.sandboxes(admin, { ownerId: alice.ownerId }, 10);
    expect(listed.sandboxes.map((s) => s.id)).toEqual([id]);
    expect((await fleet.sandboxes(admin, { ownerId: bob.ownerId }, 10)).sandboxes).toEqual([]);

    await stack.cp.sandboxes.pause(admin, id);
    const events = await stack.cp.db.query<{
      actor: string;
      owner_id: string;
      api_key_id: string;
    }>(
      "SELECT actor, owner_id, api_key_id FROM audit_events WHERE action = 'sandbox.pause' AND sandbox_id = $1",
      [id],
    );
    expect(events.rows).toEqual([
      { actor: "api", owner_id: alice.ownerId, api_key_id: admin.keyId },
    ]);
    expect(admin.keyId).not.toBe(alice.id);
  });

  test("a non-admin asking for every owner reaches only its own, through the same methods", async () => {
    const { id } = await createSandbox(stack, alice.key, { template: "base" });
    const wide: Principal = { ...bobPrincipal, reach: "all-owners" };

    await notFound(stack.cp.sandboxes.get(wide, id));
    await notFound(stack.cp.sandboxes.pause(wide, id));
    await notFound(stack.cp.sandboxes.destroy(wide, id));
    const page = await stack.cp.sandboxes.list(wide, { ownerId: alice.ownerId });
    expect(page.sandboxes).toEqual([]);
    expect((await stack.cp.sandboxes.get(admin, id)).state).toBe("running");

    // An admin's API key without the admin UI's reach stays within its own owner, as /v1 defines.
    const { reach: _reach, ...adminKey } = admin;
    await notFound(stack.cp.sandboxes.get(adminKey, id));
  });
});
