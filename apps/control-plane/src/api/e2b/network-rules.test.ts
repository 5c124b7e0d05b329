import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MemorySecrets } from "../../service/secret-resolver.js";
import { createKey, snapshot, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";

// network.rules through the control plane: accepted on E2B's create and PUT network and on /v1,
// placeholders filled in for the owner on the way to the host agent (the in-process fake, which
// runs the contract's checks as the real agent does), never stored, returned or audited.
// The proxy that applies them is tested in the host agent (egress-header-rules.test.ts).
afterAll(() => releaseTestDatabases());

const SECRET = "sk-live-9e1f0c7d2b";
const ROTATED = "sk-live-rotated-31aa";
const rules = {
  "api.example.com": [
    { transform: { headers: { Authorization: `Bearer \${e2b.secrets.api-token}` } } },
  ],
  "*.example.org": [{ transform: { headers: { "X-Team": "ml" } } }],
};

describe("network.rules in the control plane", () => {
  let stack: TestStack;
  let user: UserKey;
  const secrets = new MemorySecrets();
  const call = (method: string, path: string, body?: unknown) =>
    stack.call(method, path, { key: user.key, body });

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"), { secrets });
    user = await createKey(stack, { name: "rules", format: "e2b" });
    secrets.set(user.ownerId, "api-token", SECRET);
  });
  afterAll(() => stack?.close());

  test("E2B create: the agent gets resolved values, GET shows the placeholders", async () => {
    const created = await call("POST", "/v2/sandboxes", {
      templateID: "base",
      network: { allowOut: ["api.example.com"], denyOut: ["0.0.0.0/0"], rules },
    });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { sandboxID: string }).sandboxID;
    const onHost = stack.agent.sandboxes.get(id)!;
    expect(onHost.rules).toEqual({
      "api.example.com": [{ transform: { headers: { Authorization: `Bearer ${SECRET}` } } }],
      "*.example.org": [{ transform: { headers: { "X-Team": "ml" } } }],
    });
    const detail = await call("GET", `/sandboxes/${id}`);
    expect((detail.body as { network: { rules: unknown } }).network.rules).toEqual(rules);
    expect(detail.text).not.toContain(SECRET);
    // Nothing the control plane stores (rows, audit) holds the value.
    expect(await snapshot(stack.cp.db)).not.toContain(SECRET);

    // PUT network with the secret rotated: the agent gets the new value at once.
    secrets.set(user.ownerId, "api-token", ROTATED);
    const put = await call("PUT", `/sandboxes/${id}/network`, {
      allowOut: ["api.example.com"],
      rules,
    });
    expect(put.status, put.text).toBe(204);
    expect(onHost.rules?.["api.example.com"]).toEqual([
      { transform: { headers: { Authorization: `Bearer ${ROTATED}` } } },
    ]);
    // PUT without rules clears them on the host and in the record.
    expect((await call("PUT", `/sandboxes/${id}/network`, { allowOut: [] })).status).toBe(204);
    expect(onHost.rules).toBeUndefined();
    const after = await call("GET", `/sandboxes/${id}`);
    expect((after.body as { network: Record<string, unknown> }).network.rules).toBeUndefined();
    expect(await snapshot(stack.cp.db)).not.toContain(ROTATED);
  });

  test("rules and an egressProxy together: the agent gets both, neither secret is kept", async () => {
    const password = "socks-pa55-kept-sealed";
    secrets.set(user.ownerId, "api-token", SECRET);
    const network = {
      allowOut: ["api.example.com"],
      rules,
      egressProxy: { address: "socks.example:1080", username: "ana", password },
    };
    const created = await call("POST", "/v2/sandboxes", { templateID: "base", network });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { sandboxID: string }).sandboxID;
    const onHost = () => stack.agent.sandboxes.get(id)!;
    expect(onHost().egressProxy).toEqual({
      address: "socks.example:1080",
      username: "ana",
      password,
    });
    expect(onHost().rules?.["api.example.com"]).toEqual([
      { transform: { headers: { Authorization: `Bearer ${SECRET}` } } },
    ]);
    const shown = await call("GET", `/sandboxes/${id}`);
    expect((shown.body as { network: unknown }).network).toMatchObject({
      rules,
      egressProxy: { address: "socks.example:1080", username: "ana" },
    });
    // An update replaces both at once; the record and audit hold neither value.
    const put = await call("PUT", `/sandboxes/${id}/network`, network);
    expect(put.status, put.text).toBe(204);
    expect(onHost().egressProxy?.password).toBe(password);
    expect(onHost().rules?.["*.example.org"]).toEqual(rules["*.example.org"]);
    const db = await snapshot(stack.cp.db);
    expect(db).not.toContain(SECRET);
    expect(db).not.toContain(password);
    expect(shown.text).not.toContain(password);
  });

  test("/v1 create and update carry rules as written", async () => {
    const created = await call("POST", "/v1/sandboxes", {
      network: { allowOut: ["api.example.com"], rules },
    });
    expect(created.status, created.text).toBe(201);
    const body = created.body as { id: string; network: { rules: unknown } };
    expect(body.network.rules).toEqual(rules);
    expect(created.text).not.toContain(SECRET);
    const updated = await call("PUT", `/v1/sandboxes/${body.id}/network`, {
      network: {
        allowOut: ["api.example.com"],
        rules: { "API.example.com.": rules["api.example.com"] },
      },
    });
    expect(updated.status, updated.text).toBe(200);
    // Canonical domain, as allowOut's names.
    expect((updated.body as { network: { rules: unknown } }).network.rules).toEqual({
      "api.example.com": rules["api.example.com"],
    });
  });

  test("a placeholder naming a missing secret refuses the create and makes nothing", async () => {
    const before = await snapshot(stack.cp.db);
    const count = stack.agent.sandboxes.size;
    const r = await call("POST", "/v2/sandboxes", {
      templateID: "base",
      network: {
        allowOut: ["api.example.com"],
        rules: { "api.example.com": [{ transform: { headers: { A: `\${e2b.secrets.nope}` } } }] },
      },
    });
    expect(r.status, r.text).toBe(400);
    expect(r.text).toMatch(/nope/);
    expect(stack.agent.sandboxes.size).toBe(count);
    expect(await snapshot(stack.cp.db)).toBe(before);
  });

  test("a secret whose value cannot be a header value is refused without quoting it", async () => {
    secrets.set(user.ownerId, "multiline", "line1\r\nX-Evil: 1");
    const r = await call("POST", "/v2/sandboxes", {
      templateID: "base",
      network: {
        allowOut: ["api.example.com"],
        rules: {
          "api.example.com": [{ transform: { headers: { A: `\${e2b.secrets.multiline}` } } }],
        },
      },
    });
    expect(r.status, r.text).toBe(400);
    expect(r.text).not.toContain("X-Evil");
  });
});
