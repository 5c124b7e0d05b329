import { isErrorCode } from "@wrenn/contract";
import {
  createKey,
  createSandbox,
  freshDatabase,
  releaseTestDatabases,
  startTestStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from "@wrenn/control-plane/testing";
import {
  AuthenticationError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  SandboxNotFoundError,
  WrennClient,
  WrennError,
} from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

// WrennClient (keys, hosts, templates, sandbox records and events, health) against the real
// control plane on PGlite; only the host agent is the fake, which these routes barely touch.
describe("@wrenn/sdk WrennClient (real control plane)", () => {
  let stack: TestStack;
  let admin: WrennClient;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    admin = new WrennClient({ apiUrl: stack.cp.url, apiKey: TEST_ADMIN_KEY });
  });
  afterAll(async () => {
    await stack?.close();
    await releaseTestDatabases();
  });

  /** The failure a call ends with, which must be one of the SDK's errors with a contract code. */
  async function refusal(call: Promise<unknown>): Promise<WrennError> {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WrennError);
    expect(isErrorCode((error as WrennError).code), (error as WrennError).code).toBe(true);
    return error as WrennError;
  }

  test("health needs no key", async () => {
    const keyless = new WrennClient({ apiUrl: stack.cp.url, apiKey: "" });
    expect(await keyless.health()).toMatchObject({ status: "ok", version: expect.any(String) });
    // The same client is refused where a key is needed, before anything is sent.
    expect(await refusal(keyless.hosts.list())).toBeInstanceOf(AuthenticationError);
  });

  test("api keys: create, current, list, revoke; a user key may not list", async () => {
    const created = await admin.apiKeys.create({ name: "from-sdk", pools: { vcpus: 3 } });
    expect(created.key).toMatch(/^wrn_/);
    expect(created.apiKey).toMatchObject({ name: "from-sdk", role: "user", revokedAt: null });
    expect(created.apiKey.pools.vcpus).toBe(3);

    const user = new WrennClient({ apiUrl: stack.cp.url, apiKey: created.key });
    expect((await user.apiKeys.current()).apiKey.id).toBe(created.apiKey.id);
    const denied = await refusal(user.apiKeys.list());
    expect(denied).toBeInstanceOf(PermissionDeniedError);

    const listed = await admin.apiKeys.list();
    expect(listed.map((k) => k.id)).toContain(created.apiKey.id);
    await admin.apiKeys.revoke(created.apiKey.id);
    const after = (await admin.apiKeys.list()).find((k) => k.id === created.apiKey.id);
    expect(after?.revokedAt).toEqual(expect.any(String));
    expect(await refusal(user.apiKeys.current())).toBeInstanceOf(AuthenticationError);

    const bad = await refusal(admin.apiKeys.create({ name: "" }));
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect(bad.status).toBe(400);
  });

  test("hosts: the one agent, as the contract describes it", async () => {
    const hosts = await admin.hosts.list();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ id: expect.any(String), url: stack.agent.url });
    expect(hosts[0]?.sandboxesByState).toEqual(expect.any(Object));
  });

  test("templates: an owner's list, and what is not there is not found", async () => {
    expect(await admin.templates.list()).toEqual([]);
    const missing = await refusal(admin.templates.get("nothing-here:v1"));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.code).toBe("template_not_found");
    expect(await refusal(admin.templates.build("nothing-here"))).toBeInstanceOf(NotFoundError);
    expect(await refusal(admin.templates.delete("nothing-here"))).toBeInstanceOf(NotFoundError);
    const refused = await refusal(
      admin.templates.create({ name: "Not A Name!", fromImage: "python:3.12-slim" }),
    );
    expect(refused).toBeInstanceOf(InvalidArgumentError);
  });

  test("sandbox records and events: by id and by name, paged back, only the owner's", async () => {
    const owner = await createKey(stack);
    const sandbox = await createSandbox(stack, owner.key, { name: "sdk-records" });
    const client = new WrennClient({ apiUrl: stack.cp.url, apiKey: owner.key });

    const info = await client.sandboxes.info("sdk-records");
    expect(info).toMatchObject({ sandboxId: sandbox.id, name: "sdk-records", state: "running" });
    expect(info.envdAccessToken).toBe(sandbox.envdAccessToken);

    // A second event, so there is an older page to reach.
    const extended = await stack.call("POST", `/v1/sandboxes/${sandbox.id}/timeout`, {
      key: owner.key,
      body: { timeoutSeconds: 600 },
    });
    expect(extended.status, extended.text).toBeLessThan(300);
    const all = await client.sandboxes.events(sandbox.id);
    expect(all.events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["sandbox.create", "sandbox.timeout"]),
    );
    const first = await client.sandboxes.events("sdk-records", { limit: 1 });
    expect(first.events.map((e) => e.id)).toEqual([all.events[0]?.id]);
    expect(first.nextBefore).toBe(first.events[0]?.id);
    const older = await client.sandboxes.events(sandbox.id, {
      before: first.nextBefore ?? undefined,
      limit: 1,
    });
    expect(older.events.map((e) => e.id)).toEqual([all.events[1]?.id]);

    const stranger = new WrennClient({
      apiUrl: stack.cp.url,
      apiKey: (await createKey(stack)).key,
    });
    expect(await refusal(stranger.sandboxes.info(sandbox.id))).toBeInstanceOf(SandboxNotFoundError);
    expect(await refusal(stranger.sandboxes.events(sandbox.id))).toBeInstanceOf(
      SandboxNotFoundError,
    );
    expect(await refusal(client.sandboxes.events(sandbox.id, { limit: 501 }))).toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});
