import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createKey,
  freshDatabase,
  releaseTestDatabases,
  startTestStack,
  type TestStack,
  type UserKey,
} from "@wrenn/control-plane/testing";
import { NotFoundError, Secrets, WrennError } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../harness/paths.js";
import { isolatedEnv, wrenn } from "./wrenn-cli.js";

// @wrenn/sdk's Secrets and `wrenn secret` against the real control plane on PGlite (secrets
// never reach a host agent, so the in-process fake one stands in for it).
describe("secrets from the SDK and the CLI", () => {
  let stack: TestStack;
  let user: UserKey;
  let env: Record<string, string>;
  let work: string;
  const conn = () => ({ apiUrl: stack.cp.url, apiKey: user.key });

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    user = await createKey(stack, { name: "secrets user" });
    env = await isolatedEnv({ WRENN_API_URL: stack.cp.url, WRENN_API_KEY: user.key });
    work = await mkdtemp(join(tmpdir(), "wrenn-secrets-cli-"));
  });
  afterAll(async () => {
    await stack?.close();
    await releaseTestDatabases();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const resolve = (name: string) =>
    stack.cp.secrets.resolvePlaceholders(user.ownerId, Secrets.fill(name));

  test("SDK: add, get, update, list, remove, fill", async () => {
    const added = await Secrets.add("SDK-Key", "sdk-value-1", { ...conn(), metadata: { a: "b" } });
    expect(added).toMatchObject({ name: "sdk-key", currentVersion: 1, metadata: { a: "b" } });
    expect(added.createdAt).toBeInstanceOf(Date);
    expect(JSON.stringify(added)).not.toContain("sdk-value-1");
    expect((await Secrets.get(added.id, conn())).name).toBe("sdk-key");
    expect(await Secrets.update("sdk-key", "sdk-value-2", conn())).toMatchObject({
      currentVersion: 2,
      metadata: { a: "b" },
    });
    expect(await resolve("sdk-key")).toBe("sdk-value-2");
    expect((await Secrets.list(conn())).map((s) => s.name)).toContain("sdk-key");
    await Secrets.remove("sdk-key", conn());
    await expect(Secrets.get("sdk-key", conn())).rejects.toBeInstanceOf(NotFoundError);
    const taken = await Secrets.add("twice", "v", conn())
      .then(() => Secrets.add("TWICE", "v", conn()))
      .catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(WrennError);
    expect((taken as WrennError).code).toBe("secret_name_taken");
    expect(Secrets.fill("openai-key")).toBe(`\${e2b.secrets.openai-key}`);
    expect(() => Secrets.fill("not a name")).toThrow(/not a secret name/);
  });

  // The Python and Go SDKs, each from a program of the scenario (secrets_network.py, go's
  // secretsnet) with its own names ("py-…", "go-…").
  const sdkPrograms = [
    { sdk: "Python", p: "py", file: "python3", args: ["secrets_network.py"], cwd: "" },
    { sdk: "Go", p: "go", file: "go", args: ["run", "./secretsnet"], cwd: "go" },
  ];
  for (const { sdk, p, file, args, cwd } of sdkPrograms) {
    test(`${sdk} SDK: secrets, and rules naming one with an egress proxy; a rotation reaches the host`, async () => {
      const run = (step: string) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          execFile(
            file,
            [...args, step],
            {
              cwd: join(repoRoot, "tests/sdk-scenario", cwd),
              env: {
                ...process.env,
                PYTHONPATH: join(repoRoot, "sdks/python"),
                GOPROXY: "off",
                GOFLAGS: "-mod=mod",
                WRENN_API_URL: stack.cp.url,
                WRENN_API_KEY: user.key,
              },
            },
            (error, stdout, stderr) =>
              error
                ? reject(new Error(`${error.message}\n${stderr}`))
                : resolve(JSON.parse(stdout)),
          );
        });
      const created = await run("create");
      expect(created).toMatchObject({
        added: [`${p}-key`, 1, { team: p }],
        got: `${p}-key`,
        fill_refused: true,
        // As written, and the proxy without its password.
        rules: {
          "api.test": [{ transform: { headers: { "X-Key": `\${e2b.secrets.${p}-key}` } } }],
        },
        egress_proxy: { address: "203.0.113.9:1080", username: "ana" },
      });
      // The host agent got the value and the password; the sandbox's API answers never do.
      const id = created.sandbox_id as string;
      expect(stack.agent.sandboxes.get(id)?.rules).toEqual({
        "api.test": [{ transform: { headers: { "X-Key": `${p}-value-1` } } }],
      });
      expect(stack.agent.sandboxes.get(id)?.egressProxy).toMatchObject({
        username: "ana",
        password: `${p}-socks-pass`,
      });

      expect(await run("rotate")).toEqual({
        version: 2,
        metadata: { team: p },
        listed: [`${p}-key`, `${p}-other`],
        removed: true,
      });
      // The update answered once the running sandbox's host had the new value.
      expect(stack.agent.sandboxes.get(id)?.rules).toEqual({
        "api.test": [{ transform: { headers: { "X-Key": `${p}-value-2` } } }],
      });
      await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: user.key });
    });
  }

  test("CLI: set from stdin and from a file (a new version each time), ls, rm", async () => {
    const first = await wrenn(["secret", "set", "cli-token"], { env, input: "from-stdin\n" });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("cli-token version 1\n");
    // One trailing newline is dropped: the value is what a header needs.
    expect(await resolve("cli-token")).toBe("from-stdin");

    const file = join(work, "token.txt");
    await writeFile(file, "from-file\r\n");
    const second = await wrenn(
      ["secret", "set", "cli-token", "--value-file", file, "--metadata", "team=ci"],
      { env },
    );
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe("cli-token version 2\n");
    expect(await resolve("cli-token")).toBe("from-file");

    const ls = await wrenn(["secret", "ls", "--json"], { env });
    expect(ls.code, ls.stderr).toBe(0);
    const listed = JSON.parse(ls.stdout) as { name: string; currentVersion: number }[];
    expect(listed.find((s) => s.name === "cli-token")).toMatchObject({ currentVersion: 2 });
    expect(ls.stdout).not.toContain("from-file");
    const table = await wrenn(["secret", "ls"], { env });
    expect(table.stdout).toMatch(/^NAME\s+ID\s+VERSION\s+UPDATED/);
    expect(table.stdout).toContain("cli-token");

    const bad = await wrenn(["secret", "set", "bad name"], { env, input: "v" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name must/);

    const removed = await wrenn(["secret", "rm", "cli-token"], { env });
    expect(removed.code, removed.stderr).toBe(0);
    const again = await wrenn(["secret", "rm", "cli-token"], { env });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/secret cli-token not found/);
  });
});
