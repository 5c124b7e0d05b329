import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";

// Requests shaped exactly as E2B clients this repository cannot run send them: the Python SDK
// (e2b-dev/E2B packages/python-sdk at b8029973: sandbox_sync/sandbox_api.py, paginator.py and
// the generated api/client) and JS releases older than 2.7 (1.13.2, 2.0.1-2.5), which only
// reach https://api.<domain>. The host agent is the in-process fake: these are API shapes.
afterAll(() => releaseTestDatabases());

/** Python's urllib.parse.quote (safe "/"), as the SDK applies it before urlencode. */
const pyQuote = (s: string) =>
  encodeURIComponent(s)
    .replace(/%2F/g, "/")
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

describe("E2B wire shapes of the Python SDK and of JS SDK 1.x / 2.0-2.5", () => {
  let stack: TestStack;
  let user: UserKey;
  let headers: Record<string, string>;
  const call = (method: string, path: string, body?: unknown) =>
    stack.call(method, path, { key: user.key, body });

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"), {
      config: { domain: "wrenn.test", defaultInternet: true },
    });
    user = await createKey(stack, { name: "wire shapes", format: "e2b" });
    headers = { "x-api-key": user.key };
  });
  afterAll(() => stack?.close());

  test("Python: create with POST /sandboxes, connect with /sandboxes/{id}/connect", async () => {
    // NewSandbox.to_dict(): empty maps and secure are always sent.
    const created = await call("POST", "/sandboxes", {
      templateID: "base",
      metadata: { owner: "a b&c=d" },
      timeout: 300,
      envVars: {},
      secure: true,
      allow_internet_access: true,
    });
    expect(created.status).toBe(201);
    // Sandbox.from_dict needs these; domain names this server.
    expect(created.body).toMatchObject({
      sandboxID: expect.any(String),
      templateID: "base",
      clientID: expect.any(String),
      envdVersion: expect.stringMatching(/^\d+\.\d+\.\d+/),
      envdAccessToken: expect.any(String),
      domain: "wrenn.test",
    });
    const id = (created.body as { sandboxID: string }).sandboxID;

    const connected = await call("POST", `/sandboxes/${id}/connect`, { timeout: 300 });
    expect(connected.status).toBe(200);
    expect(connected.body).toMatchObject({ sandboxID: id, domain: "wrenn.test" });

    const detail = await call("GET", `/sandboxes/${id}`);
    // SandboxDetail.from_dict's required fields.
    for (const field of [
      "templateID",
      "sandboxID",
      "clientID",
      "startedAt",
      "endAt",
      "envdVersion",
      "cpuCount",
      "memoryMB",
      "diskSizeMB",
      "state",
    ])
      expect(detail.body).toHaveProperty(field);

    // paginator.py: metadata = urlencode({quote(k): quote(v)}), then httpx encodes the param;
    // state joined with commas; startedAfter = datetime.astimezone().isoformat() (microseconds
    // and an offset). startedAfter is "at or after": the sandbox's own start time includes it.
    const startedAt = new Date((detail.body as { startedAt: string }).startedAt);
    const iso = `${startedAt.toISOString().slice(0, 23)}000+00:00`;
    const metadata = encodeURIComponent(`owner=${pyQuote("a b&c=d")}`.replace(/%/g, "%25"));
    const query = `metadata=${metadata}&state=running%2Cpaused&startedAfter=${encodeURIComponent(iso)}&limit=100`;
    const listed = await call("GET", `/v2/sandboxes?${query}`);
    expect(listed.status, listed.text).toBe(200);
    expect((listed.body as { sandboxID: string }[]).map((s) => s.sandboxID)).toEqual([id]);
    const later = new Date(startedAt.getTime() + 1).toISOString();
    const none = await call("GET", `/v2/sandboxes?startedAfter=${encodeURIComponent(later)}`);
    expect(none.body).toEqual([]);

    // SandboxPauseRequest(memory=keep_memory) and the timeout body.
    expect((await call("POST", `/sandboxes/${id}/pause`, { memory: true })).status).toBe(204);
    expect((await call("POST", `/sandboxes/${id}/connect`, { timeout: 60 })).status).toBe(201);
    expect((await call("POST", `/sandboxes/${id}/timeout`, { timeout: 30 })).status).toBe(204);
    expect((await call("POST", `/sandboxes/${id}/refreshes`, { duration: 120 })).status).toBe(204);
    expect((await call("DELETE", `/sandboxes/${id}`)).status).toBe(204);
  });

  test("JS 2.0-2.5: connect tries /timeout, which a paused sandbox refuses, then /resume", async () => {
    // createSandbox in 2.0.1 always sends autoPause, secure and allow_internet_access.
    const created = await call("POST", "/sandboxes", {
      autoPause: false,
      templateID: "base",
      timeout: 300,
      secure: true,
      allow_internet_access: true,
    });
    expect(created.status).toBe(201);
    const id = (created.body as { sandboxID: string }).sandboxID;
    expect(
      (await call("POST", `/sandboxes/${id}/resume`, { autoPause: false, timeout: 300 })).status,
    ).toBe(409);
    expect((await call("POST", `/sandboxes/${id}/pause`)).status).toBe(204);

    const timeout = await call("POST", `/sandboxes/${id}/timeout`, { timeout: 300 });
    expect(timeout.status).toBe(404);
    expect(timeout.body).toMatchObject({ code: 404 });
    const resumed = await call("POST", `/sandboxes/${id}/resume`, {
      autoPause: false,
      timeout: 300,
    });
    expect(resumed.status).toBe(201);
    // getFullInfo then reads the token and domain from GET /sandboxes/{id}.
    const info = await call("GET", `/sandboxes/${id}`);
    expect(info.body).toMatchObject({
      state: "running",
      domain: "wrenn.test",
      envdAccessToken: expect.any(String),
    });
    expect((await call("POST", `/sandboxes/${id}/resume`, { timeout: 300 })).status).toBe(409);
    await call("DELETE", `/sandboxes/${id}`);
  });

  test("the operator's default internet access applies when a create says nothing", async () => {
    // This stack runs with WRENN_DEFAULT_INTERNET=true (E2B's behaviour).
    const idOf = (r: { body: unknown }) => (r.body as { sandboxID: string }).sandboxID;
    const plain = idOf(await call("POST", "/v2/sandboxes", { templateID: "base" }));
    expect(stack.agent.sandboxes.get(plain)!.allowInternet).toBe(true);
    const closed = idOf(
      await call("POST", "/v2/sandboxes", { templateID: "base", allow_internet_access: false }),
    );
    expect(stack.agent.sandboxes.get(closed)!.allowInternet).toBe(false);
    // updateNetwork without allow_internet_access falls back to the same default.
    expect((await call("PUT", `/sandboxes/${closed}/network`, {})).status).toBe(204);
    expect(stack.agent.sandboxes.get(closed)!.allowInternet).toBe(true);
  });

  test("JS 1.x: GET /sandboxes lists running sandboxes, filtered by metadata", async () => {
    const a = await call("POST", "/sandboxes", { templateID: "base", metadata: { v1: "yes" } });
    const b = await call("POST", "/sandboxes", { templateID: "base", metadata: { v1: "yes" } });
    const ids = [a, b].map((r) => (r.body as { sandboxID: string }).sandboxID);
    await call("POST", `/sandboxes/${ids[1]}/pause`);
    const metadata = encodeURIComponent(new URLSearchParams({ v1: "yes" }).toString());
    const listed = await fetch(`${stack.cp.url}/sandboxes?metadata=${metadata}`, { headers });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { sandboxID: string; state: string }[];
    expect(body.map((s) => [s.sandboxID, s.state])).toEqual([[ids[0], "running"]]);
    for (const id of ids) await call("DELETE", `/sandboxes/${id}`);
  });
});
