import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, snapshot, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// The proxy's refusals, before any traffic reaches a host (the fake agent has no forwarder;
// tests/e2e-stack carries real traffic through the real one).
afterAll(() => releaseTestDatabases());

describe("the sandbox proxy refuses what it cannot route", () => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
  });
  afterAll(() => stack?.close());

  const envd = (id: string, path = "/health") =>
    fetch(`${stack.cp.url}${path}`, {
      headers: { "e2b-sandbox-id": id, "e2b-sandbox-port": "49983" },
    });

  test("unknown, paused and destroyed sandboxes get E2B's 502 body, so isRunning() is false", async () => {
    const paused = await createSandbox(stack, alice.key);
    await stack.call("POST", `/v1/sandboxes/${paused.id}/pause`, { key: alice.key });
    const gone = await createSandbox(stack, alice.key);
    await stack.call("DELETE", `/v1/sandboxes/${gone.id}`, { key: alice.key });
    for (const id of ["sb-00000000", "nonsense", paused.id, gone.id]) {
      const response = await envd(id, "/process.Process/Start");
      expect(response.status).toBe(502);
      expect(await response.json()).toEqual({
        message: "The sandbox was not found",
        sandboxId: id,
        code: 502,
      });
    }
    const badPort = await fetch(`${stack.cp.url}/health`, {
      headers: { "e2b-sandbox-id": paused.id, "e2b-sandbox-port": "0" },
    });
    expect(badPort.status).toBe(400);
  });

  test("the /v1 ports prefix needs a key and the sandbox's owner; nothing changes", async () => {
    const mine = await createSandbox(stack, alice.key);
    const before = await snapshot(stack.cp.db);
    const noKey = await stack.call("GET", `/v1/sandboxes/${mine.id}/ports/8080/`, { key: null });
    expect(noKey.status).toBe(401);
    expect(noKey.body).toMatchObject({ error: { code: "missing_api_key" } });
    const wrongKey = await stack.call("GET", `/v1/sandboxes/${mine.id}/ports/8080/`, {
      key: "wrn_x".padEnd(36, "x"),
    });
    expect(wrongKey.status).toBe(401);
    const notTheirs = await stack.call("POST", `/v1/sandboxes/${mine.id}/ports/8080/x`, {
      key: bob.key,
      body: {},
    });
    expect(notTheirs.status).toBe(404);
    expect(notTheirs.body).toMatchObject({ error: { code: "sandbox_not_found" } });
    const badPort = await stack.call("GET", `/v1/sandboxes/${mine.id}/ports/65536/`, {
      key: alice.key,
    });
    expect(badPort.status).toBe(400);
    expect(await snapshot(stack.cp.db)).toBe(before);
  });

  test("a signed /files URL that matches no running sandbox is refused", async () => {
    const response = await fetch(`${stack.cp.url}/files?path=%2Fetc%2Fpasswd&signature=v1_abc`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 404 });
  });

  test("upgrades are routed too: a refused WebSocket gets the same answer as HTTP", async () => {
    const { default: WebSocket } = await import("ws");
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${stack.cp.url.replace("http", "ws")}/`, {
        headers: { "e2b-sandbox-id": "sb-00000000" },
      });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("opened")));
      ws.on("error", () => {});
    });
    expect(status).toBe(502);
  });
});
