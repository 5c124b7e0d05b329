import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, snapshot, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import { badTextCases, e2bCases } from "./bad-input-cases/e2b-cases.js";
import { secretCases } from "./bad-input-cases/secret-cases.js";
import { v1CreateCases } from "./bad-input-cases/v1-create-cases.js";
import { v1QueryCases } from "./bad-input-cases/v1-query-cases.js";

afterAll(() => releaseTestDatabases());

/**
 * Calls the control plane makes on its own, not for a request: host monitoring, and the admin
 * metrics sampler's stats (its interval can pass during this long file on a loaded machine).
 */
const BACKGROUND_CALLS = ["heartbeat", "hostStatus", "listTemplates", "getSandboxStats"];

describe.each(DATABASE_KINDS)("bad input on %s", (kind) => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;
  let sandboxId: string;
  let before: string;
  let hostCalls: number;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
    // Longer than the whole file can take on a loaded machine: its default 300 s ran out
    // once mid-file, and the expiry (a legitimate change) failed "nothing stored changed".
    sandboxId = (await createSandbox(stack, alice.key, { timeoutSeconds: 3600 })).id;
    before = await snapshot(stack.cp.db);
    hostCalls = stack.agent.calls.filter((c) => !BACKGROUND_CALLS.includes(c.method)).length;
  });
  afterAll(() => stack?.close());

  test.each([...v1CreateCases, ...v1QueryCases, ...e2bCases, ...badTextCases, ...secretCases])(
    "$name → $status",
    async (c) => {
      const keys: Record<string, string | null> = {
        alice: alice.key,
        bob: bob.key,
        admin: undefined as unknown as string,
        none: null,
      };
      const key = c.key === undefined ? alice.key : c.key in keys ? keys[c.key] : c.key;
      const path = c.path.replace("{id}", sandboxId);
      const response = await stack.call(c.method, path, {
        key: key === undefined ? undefined : key,
        body: c.raw ?? c.body,
        headers: c.contentType
          ? { "content-type": c.contentType }
          : c.raw !== undefined
            ? { "content-type": "application/json" }
            : {},
      });
      expect(response.status, response.text.slice(0, 300)).toBe(c.status);
      const e2b = c.name.startsWith("E2B");
      if (e2b) {
        expect(response.body).toMatchObject({ code: c.status, message: expect.any(String) });
        if (c.code) expect((response.body as { error_code: string }).error_code).toBe(c.code);
      } else {
        expect(response.body).toMatchObject({
          error: { code: expect.any(String), message: expect.any(String) },
        });
        if (c.code) expect((response.body as { error: { code: string } }).error.code).toBe(c.code);
      }
    },
  );

  test("nothing stored changed and the host was asked nothing", async () => {
    expect(await snapshot(stack.cp.db)).toBe(before);
    const calls = stack.agent.calls.filter((c) => !BACKGROUND_CALLS.includes(c.method));
    expect(calls.length, JSON.stringify(calls.slice(hostCalls))).toBe(hostCalls);
    expect(stack.agent.sandboxes.size).toBe(1);
  });
});
