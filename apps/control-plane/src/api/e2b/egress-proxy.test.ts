import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, snapshot, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";

// E2B's network.egressProxy through the control plane: accepted at create and by PUT network,
// the password sealed in the database, sent to the host agent in clear, never returned and
// never in the audit log. The agent is the in-process fake (it runs the contract's checks);
// the tunnel itself is tested against a real SOCKS5 server in host-agent's egress-socks.test.ts.
afterAll(() => releaseTestDatabases());

const PASSWORD = "pa55-w0rd-that-must-not-leak";

describe("egressProxy (E2B API)", () => {
  let stack: TestStack;
  let user: UserKey;
  const call = (method: string, path: string, body?: unknown) =>
    stack.call(method, path, { key: user.key, body });

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    user = await createKey(stack, { name: "socks", format: "e2b" });
  });
  afterAll(() => stack?.close());

  test("create with a proxy: the agent gets it whole, reads show address and user only", async () => {
    const created = await call("POST", "/sandboxes", {
      templateID: "base",
      network: {
        allowOut: ["example.com"],
        egressProxy: { address: "Proxy.Example:1080", username: "ana", password: PASSWORD },
      },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.text).not.toContain(PASSWORD);
    const id = (created.body as { sandboxID: string }).sandboxID;
    expect(stack.agent.sandboxes.get(id)?.egressProxy).toEqual({
      address: "proxy.example:1080",
      username: "ana",
      password: PASSWORD,
    });
    const got = await call("GET", `/sandboxes/${id}`);
    expect(got.status).toBe(200);
    expect((got.body as { network: unknown }).network).toMatchObject({
      allowOut: ["example.com"],
      egressProxy: { address: "proxy.example:1080", username: "ana" },
    });
    expect(got.text).not.toContain(PASSWORD);
    const v1 = await call("GET", `/v1/sandboxes/${id}`);
    expect(v1.status).toBe(200);
    expect((v1.body as { network: unknown }).network).toMatchObject({
      egressProxy: { address: "proxy.example:1080", username: "ana" },
    });
    expect(v1.text).not.toContain(PASSWORD);
    // At rest: sealed, not in clear anywhere in the database (the audit log included).
    const db = await snapshot(stack.cp.db);
    expect(db).toContain("passwordSealed");
    expect(db).not.toContain(PASSWORD);
  });

  test("PUT network sets, replaces and clears the proxy live", async () => {
    const created = await call("POST", "/sandboxes", { templateID: "base" });
    expect(created.status).toBe(201);
    const id = (created.body as { sandboxID: string }).sandboxID;
    const put = (body: unknown) => call("PUT", `/sandboxes/${id}/network`, body);
    const shown = async () =>
      ((await call("GET", `/sandboxes/${id}`)).body as { network: { egressProxy?: unknown } })
        .network.egressProxy;

    expect(
      (await put({ allowOut: ["1.1.1.1"], egressProxy: { address: "10.1.2.3:1080" } })).status,
    ).toBe(204);
    expect(stack.agent.sandboxes.get(id)?.egressProxy).toEqual({ address: "10.1.2.3:1080" });
    expect(await shown()).toEqual({ address: "10.1.2.3:1080" });

    const replaced = await put({
      egressProxy: { address: "socks.example:9050", username: "u", password: PASSWORD },
    });
    expect(replaced.status).toBe(204);
    expect(stack.agent.sandboxes.get(id)?.egressProxy?.password).toBe(PASSWORD);
    expect(await shown()).toEqual({ address: "socks.example:9050", username: "u" });

    // The body replaces the whole config: leaving it out, or null, clears it.
    expect((await put({ allowOut: ["1.1.1.1"] })).status).toBe(204);
    expect(stack.agent.sandboxes.get(id)?.egressProxy).toBeUndefined();
    expect(await shown()).toBeUndefined();
    expect((await put({ egressProxy: { address: "10.1.2.3:1080" } })).status).toBe(204);
    expect((await put({ egressProxy: null })).status).toBe(204);
    expect(await shown()).toBeUndefined();
    expect(await snapshot(stack.cp.db)).not.toContain(PASSWORD);
  });
});
