import { afterAll, beforeAll, expect, test } from "vitest";
import { createKey, createSandbox } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// GET /metrics on the real server: who may read it, and that the figures are the database's.
let stack: TestStack;
const TOKEN = "wrm_scrape-token-for-tests";
beforeAll(async () => {
  stack = await startTestStack(await freshDatabase("pglite"), {
    config: { metricsToken: TOKEN },
  });
});
afterAll(async () => {
  await stack?.close();
  await releaseTestDatabases();
});

test("/metrics: the scrape token or an admin key; user keys and strangers are refused", async () => {
  const user = await createKey(stack, { name: "user" });
  await createSandbox(stack, user.key);
  const scraped = await stack.call("GET", "/metrics", {
    key: null,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(scraped.status).toBe(200);
  expect(scraped.headers.get("content-type")).toContain("text/plain");
  expect(scraped.text).toMatch(/^wrenn_cp_sandboxes\{state="running"\} 1$/m);
  expect(scraped.text).toMatch(
    /^wrenn_cp_http_requests_total\{method="POST",route="\/v1\/sandboxes",status="201"\} 1$/m,
  );
  expect(scraped.text).toContain("wrenn_cp_process_cpu_seconds_total");

  expect((await stack.call("GET", "/metrics")).status).toBe(200); // the admin key
  const asUser = await stack.call("GET", "/metrics", { key: user.key });
  expect(asUser.status).toBe(403);
  const nobody = await stack.call("GET", "/metrics", { key: null });
  expect(nobody.status).toBe(401);
  expect((nobody.body as { error: { code: string } }).error.code).toBe("missing_api_key");
  const wrong = await stack.call("GET", "/metrics", {
    key: null,
    headers: { authorization: "Bearer wrm_wrong" },
  });
  expect(wrong.status).toBe(401);
});
