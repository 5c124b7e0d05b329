import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// Through the real routes and schemas: what a person reads when a field is wrong.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack(await freshDatabase("pglite"));
});
afterAll(async () => {
  await stack?.close();
  await releaseTestDatabases();
});

async function message(method: string, path: string, body?: unknown): Promise<string> {
  const response = await stack.call(method, path, { body });
  expect(response.status).toBe(400);
  return (response.body as { error: { code: string; message: string } }).error.message;
}

test("fields are named as the caller wrote them, not as schema paths", async () => {
  const vcpus = await message("POST", "/v1/sandboxes", { resources: { vcpus: 999 } });
  expect(vcpus).toMatch(/^resources\.vcpus must be /);
  expect(vcpus).not.toContain("body/");
  expect(await message("POST", "/v1/sandboxes", { resources: { cpus: 2 } })).toBe(
    "resources.cpus is not a field this request takes",
  );
  expect(
    await message("POST", "/v1/sandboxes", { mounts: [{ hostPath: "/srv", path: 3 }] }),
  ).toMatch(/^mounts\[0\]\.path must be /);
  expect(await message("POST", "/v1/sandboxes/sb-00000000/timeout", {})).toBe(
    "timeoutSeconds is required",
  );
  expect(await message("GET", "/v1/sandboxes?limit=0")).toMatch(/^query parameter limit must be /);
  expect(await message("POST", "/v1/sandboxes", [])).toMatch(/^the body must be /);
});
