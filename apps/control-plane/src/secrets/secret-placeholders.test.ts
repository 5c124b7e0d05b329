import { secretPlaceholder } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Principal } from "../service/sandbox-types.js";
import { createKey, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// SecretService.resolvePlaceholders: what the egress rules will call to fill header values.
afterAll(() => releaseTestDatabases());

const fill = secretPlaceholder;

describe(`resolving \${e2b.secrets.NAME} placeholders`, () => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;
  const as = (k: UserKey): Principal => ({
    keyId: k.id,
    ownerId: k.ownerId,
    role: "user",
    name: "test",
  });

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
    const secrets = stack.cp.secrets;
    await secrets.create(as(alice), { name: "openai-key", value: "sk-alice-1" });
    await secrets.create(as(alice), { name: "Github_Token", value: "ghp alice\ttab" });
    // A value that looks like a placeholder is a value, not another placeholder.
    await secrets.create(as(alice), { name: "tricky", value: fill("openai-key") });
    await secrets.create(as(bob), { name: "bob-only", value: "sk-bob" });
  });
  afterAll(() => stack?.close());

  test("every placeholder becomes the owner's current value; the rest is left as it is", async () => {
    const resolve = (text: string) => stack.cp.secrets.resolvePlaceholders(alice.ownerId, text);
    expect(await resolve(`Bearer ${fill("openai-key")}`)).toBe("Bearer sk-alice-1");
    expect(
      await resolve(`${fill("openai-key")}:${fill("github_token")}:${fill("openai-key")}`),
    ).toBe("sk-alice-1:ghp alice\ttab:sk-alice-1");
    // Names match in any case: E2B's Secret.fill keeps the case it is given.
    expect(await resolve(fill("GITHUB_TOKEN"))).toBe("ghp alice\ttab");
    expect(await resolve(fill("tricky"))).toBe(fill("openai-key"));
    expect(await resolve(`no placeholder, \${e2b.identity.tokens.aws} kept`)).toBe(
      `no placeholder, \${e2b.identity.tokens.aws} kept`,
    );
    expect(await resolve("")).toBe("");

    await stack.cp.secrets.update(as(alice), "openai-key", { value: "sk-alice-2" });
    expect(await resolve(fill("openai-key"))).toBe("sk-alice-2");
  });

  test("the batch form resolves many texts with one answer each", async () => {
    expect(
      await stack.cp.secrets.resolveAll(alice.ownerId, [
        fill("openai-key"),
        "plain",
        `x-${fill("tricky")}`,
      ]),
    ).toEqual(["sk-alice-2", "plain", `x-${fill("openai-key")}`]);
  });

  test("a secret the owner does not have is secret_not_found, naming it", async () => {
    const resolve = (owner: string, text: string) =>
      stack.cp.secrets.resolvePlaceholders(owner, text);
    await expect(
      resolve(alice.ownerId, `${fill("openai-key")} ${fill("missing-one")}`),
    ).rejects.toMatchObject({
      code: "secret_not_found",
      message: expect.stringContaining("missing-one"),
    });
    // Another owner's secret is as good as missing.
    await expect(resolve(alice.ownerId, fill("bob-only"))).rejects.toMatchObject({
      code: "secret_not_found",
    });
    expect(await resolve(bob.ownerId, fill("bob-only"))).toBe("sk-bob");
    await expect(resolve(bob.ownerId, fill("openai-key"))).rejects.toMatchObject({
      code: "secret_not_found",
    });
  });

  test("a placeholder whose name is not a secret name is invalid_request", async () => {
    for (const text of [
      `\${e2b.secrets.}`,
      `\${e2b.secrets.has space}`,
      `\${e2b.secrets.a.b}`,
      `\${e2b.secrets.${"n".repeat(129)}}`,
    ]) {
      await expect(
        stack.cp.secrets.resolvePlaceholders(alice.ownerId, text),
        text,
      ).rejects.toMatchObject({ code: "invalid_request" });
    }
  });
});
