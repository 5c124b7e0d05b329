import { Secret, SecretError, SecretNotFoundError } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, type UserKey } from "../../testing/api-helpers.js";
import { captureLogs, startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";

// The official e2b SDK's Secret client (e2b@2.51.0) against Wrenn's /secrets.
afterAll(() => releaseTestDatabases());

describe("E2B's Secret client", () => {
  let stack: TestStack;
  let user: UserKey;
  let opts: { apiKey: string; apiUrl: string; requestTimeoutMs: number };
  let logLines: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    // A control plane that logs everything, to check that no value reaches the log.
    logLines = await captureLogs(stack);
    user = await createKey(stack, { name: "e2b secrets" });
    opts = { apiKey: user.key, apiUrl: stack.cp.url, requestTimeoutMs: 20_000 };
  });
  afterAll(() => stack?.close());

  test("create, getInfo, update, list, exists, destroy", async () => {
    const created = await Secret.create("OpenAI-API-Key", "sk-e2b-sdk-value", {
      ...opts,
      metadata: { owner: "ml" },
    });
    expect(created).toMatchObject({
      secretId: expect.stringMatching(/^sec_/),
      name: "openai-api-key",
      version: 1,
      metadata: { owner: "ml" },
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await Secret.getInfo(created.secretId, opts)).toMatchObject({ name: "openai-api-key" });

    const updated = await Secret.update("openai-api-key", "sk-e2b-sdk-value-2", opts);
    expect(updated).toMatchObject({ version: 2, metadata: { owner: "ml" } });
    expect(
      await stack.cp.secrets.resolvePlaceholders(user.ownerId, Secret.fill("openai-api-key")),
    ).toBe("sk-e2b-sdk-value-2");

    for (let i = 0; i < 3; i++) await Secret.create(`more-${i}`, "v", opts);
    const paginator = Secret.list({ ...opts, limit: 2 });
    const names: string[] = [];
    while (paginator.hasNext) names.push(...(await paginator.nextItems()).map((s) => s.name));
    expect(names).toEqual(["openai-api-key", "more-0", "more-1", "more-2"]);

    expect(await Secret.exists("openai-api-key", opts)).toBe(true);
    expect(await Secret.destroy("openai-api-key", opts)).toBe(true);
    expect(await Secret.exists("openai-api-key", opts)).toBe(false);
    expect(await Secret.destroy("openai-api-key", opts)).toBe(false);
    await expect(Secret.getInfo("openai-api-key", opts)).rejects.toBeInstanceOf(
      SecretNotFoundError,
    );
    await expect(Secret.update(created.secretId, "v", opts)).rejects.toBeInstanceOf(
      SecretNotFoundError,
    );
  });

  test("refusals reach the SDK as its errors", async () => {
    await Secret.create("taken", "v", opts);
    const taken = await Secret.create("TAKEN", "v", opts).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(SecretError);
    expect(String(taken)).toMatch(/^SecretError: 409: you have a secret named taken already/);
    const bad = await Secret.create("bad name", "v", opts).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SecretError);
    expect(String(bad)).toMatch(/400: /);
  });

  test("no value reached the log", () => {
    expect(logLines.length).toBeGreaterThan(10);
    const log = logLines.join("");
    expect(log).toContain("/secrets");
    expect(log).not.toContain("sk-e2b-sdk-value");
  });
});
