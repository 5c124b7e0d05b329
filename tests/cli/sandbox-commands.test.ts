import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";
import type { CliSuite } from "./cli-suite.js";
import { sandboxIoCases } from "./sandbox-io-cases.js";
import { sandboxObserveCases } from "./sandbox-observe-cases.js";
import { isolatedEnv, wrenn } from "./wrenn-cli.js";

// The `wrenn` binary against the real stack: every sandbox command, keys, hosts and logs. One
// stack for the file; the I/O and observing cases are in sandbox-io-cases.ts and
// sandbox-observe-cases.ts, run here in order.
describe("wrenn sandbox, keys, hosts", () => {
  let stack: Stack;
  let user: UserKey;
  let env: Record<string, string>;
  let adminEnv: Record<string, string>;
  let work: string;
  let id = "";
  const suite: CliSuite = {
    get stack() {
      return stack;
    },
    get user() {
      return user;
    },
    get env() {
      return env;
    },
    get adminEnv() {
      return adminEnv;
    },
    get work() {
      return work;
    },
    get id() {
      return id;
    },
  };

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    user = await stack.key({ name: "cli-user" });
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
    adminEnv = { ...env, WRENN_API_KEY: stack.adminKey };
    work = await mkdtemp(join(tmpdir(), "wrenn-cli-work-"));
  });
  afterAll(async () => {
    await stack?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("create prints an id; ls and info show it, as text and --json", async () => {
    const created = await wrenn(
      ["sandbox", "create", "-m", "purpose=cli-test", "--timeout", "600"],
      { env },
    );
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    id = created.stdout.trim();
    expect(id).toMatch(/^sb-[0-9a-f]{8}$/);

    const ls = await wrenn(["sbx", "ls"], { env });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`${id}\\s+-\\s+running\\s+base`));

    const json = await wrenn(["sandbox", "ls", "--json"], { env });
    const list = JSON.parse(json.stdout) as {
      sandboxId: string;
      metadata: Record<string, string>;
    }[];
    expect(list.map((s) => s.sandboxId)).toEqual([id]);
    expect(list[0]?.metadata).toEqual({ purpose: "cli-test" });

    const info = await wrenn(["sandbox", "info", id, "--json"], { env });
    expect(JSON.parse(info.stdout)).toMatchObject({
      sandboxId: id,
      state: "running",
      templateId: "base",
    });
    const text = await wrenn(["sandbox", "info", id], { env });
    expect(text.stdout).toMatch(/state\s+running/);
    expect(text.stdout).toContain("metadata purpose  cli-test");
    expect(text.stdout).toMatch(/ends\s+\S+ \(in \d+m\)/);
    expect((await wrenn(["sandbox", "ls", "-q"], { env })).stdout).toBe(`${id}\n`);
  });

  test("network: create with egress flags (and auto-resume), replace them, and a domain is refused", async () => {
    const created = await wrenn(
      [
        ...["sandbox", "create", "--no-internet", "--allow-out", "1.1.1.1", "--timeout", "600"],
        ...["--auto-pause", "--auto-resume"],
      ],
      { env },
    );
    expect(created.code).toBe(0);
    const sid = created.stdout.trim();
    try {
      const shown = await wrenn(["sandbox", "info", sid], { env });
      expect(shown.stdout).toMatch(/network\s+only 1\.1\.1\.1/);
      expect(shown.stdout).toMatch(/auto-resume\s+a request to it while paused resumes it/);
      const changed = await wrenn(
        ["sandbox", "network", sid, "--internet", "--deny-out", "9.9.9.0/24"],
        { env },
      );
      expect(changed).toMatchObject({ code: 0, stdout: `${sid}: internet except 9.9.9.0/24\n` });
      const info = JSON.parse((await wrenn(["sandbox", "info", sid, "--json"], { env })).stdout);
      expect(info).toMatchObject({
        allowInternetAccess: true,
        network: { allowOut: [], denyOut: ["9.9.9.0/24"] },
        autoPause: true,
        autoResume: true,
      });
      const named = await wrenn(
        ["sandbox", "network", sid, "--allow-out", "Example.com", "--allow-out", "*.example.org"],
        { env },
      );
      expect(named.code).toBe(0);
      const namedInfo = JSON.parse(
        (await wrenn(["sandbox", "info", sid, "--json"], { env })).stdout,
      );
      expect(namedInfo.network.allowOut).toEqual(["example.com", "*.example.org"]);
      const refused = await wrenn(["sandbox", "network", sid, "--deny-out", "example.com"], {
        env,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/domain names are allowed in allowOut only/);
    } finally {
      await wrenn(["sandbox", "kill", sid], { env });
    }
  });

  test("bash completes sandbox ids where a command takes one (from `wrenn sandbox ls -q`)", async () => {
    // A `wrenn` on the PATH, as after `npm link`, that answers `sandbox ls -q` as the real one
    // does (the real `ls -q` is checked in the first test): this tests the completion script.
    const bin = join(work, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, "wrenn"),
      `#!/bin/sh\n[ "$*" = "sandbox ls -q" ] && echo ${id} && echo sb-0000feed\n`,
      { mode: 0o755 },
    );
    const script = (await wrenn(["completion", "bash"], { env })).stdout;
    const complete = (words: string) =>
      execFileSync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _wrenn; echo "\${COMPREPLY[*]}"`,
        ],
        { env: { ...env, PATH: `${bin}:${env.PATH}` }, encoding: "utf8" },
      ).trim();
    expect(complete(`wrenn sandbox exec ${id.slice(0, 6)}`)).toBe(id);
    expect(complete("wrenn sbx pause ''").split(" ")).toEqual(
      expect.arrayContaining([id, "sb-0000feed"]),
    );
    // Where no id belongs, none is offered.
    expect(complete("wrenn sandbox create sb-")).not.toContain(id);
  });

  test("a missing sandbox exits 3, a wrong key 4, no API 5, bad usage 2", async () => {
    const missing = await wrenn(["sandbox", "info", "sb-00000000"], { env });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^wrenn: .*sb-00000000/);
    const badKey = await wrenn(["sandbox", "ls"], { env: { ...env, WRENN_API_KEY: "wrn_nope" } });
    expect(badKey.code).toBe(4);
    const down = await wrenn(["sandbox", "ls"], {
      env: { ...env, WRENN_API_URL: "http://127.0.0.1:9" },
    });
    expect(down.code).toBe(5);
    expect(down.stderr).toContain("wrenn up");
    const usage = await wrenn(["sandbox", "create", "--vcpus", "many"], { env });
    expect(usage.code).toBe(2);
    // Another owner's sandbox does not exist for this key.
    const other = await stack.key({ name: "someone else" });
    const foreign = await wrenn(["sandbox", "exec", id, "--", "true"], {
      env: { ...env, WRENN_API_KEY: other.key },
    });
    expect(foreign.code).toBe(3);
  });

  sandboxIoCases(suite);

  test("pause and resume", async () => {
    const paused = await wrenn(["sandbox", "pause", id], { env });
    expect(paused.code).toBe(0);
    const info = await wrenn(["sandbox", "info", id, "--json"], { env });
    expect(JSON.parse(info.stdout).state).toBe("paused");
    // A paused sandbox has no clock running: no "ends in" anywhere.
    const text = await wrenn(["sandbox", "info", id], { env });
    expect(text.stdout).not.toMatch(/^(ends|pauses)\s/m);
    const row = (await wrenn(["sandbox", "ls"], { env })).stdout
      .split("\n")
      .find((l) => l.startsWith(id));
    expect(row).toMatch(/paused.*\s-\s*$/);
    const resumed = await wrenn(["sandbox", "resume", id], { env });
    expect(resumed.code).toBe(0);
    const after = await wrenn(["sandbox", "exec", id, "--", "cat /tmp/note.txt"], { env });
    expect(after.stdout).toBe("from the sandbox\n");
  });

  test("names: create --name, then the name works wherever the id does; a clash is refused", async () => {
    const created = await wrenn(["sandbox", "create", "--name", "cli-web", "--timeout", "600"], {
      env,
    });
    expect(created.code).toBe(0);
    const named = created.stdout.trim();
    expect(named).toMatch(/^sb-[0-9a-f]{8}$/);
    const exec = await wrenn(["sandbox", "exec", "cli-web", "--", "echo by-name"], { env });
    expect(exec).toMatchObject({ code: 0, stdout: "by-name\n" });
    const ls = await wrenn(["sbx", "ls"], { env });
    expect(ls.stdout).toMatch(/\bNAME\b/);
    expect(ls.stdout).toMatch(new RegExp(`${named}\\s+cli-web\\s+running`));
    const info = await wrenn(["sandbox", "info", "cli-web"], { env });
    expect(info.stdout).toMatch(new RegExp(`id\\s+${named}`));
    expect(info.stdout).toMatch(/name\s+cli-web/);
    expect(
      JSON.parse((await wrenn(["sandbox", "info", "cli-web", "--json"], { env })).stdout),
    ).toMatchObject({ sandboxId: named, name: "cli-web" });

    const clash = await wrenn(["sandbox", "create", "--name", "cli-web"], { env });
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain("already have a sandbox named cli-web");
    const bad = await wrenn(["sandbox", "create", "--name", "Not_A_Name"], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name/);

    expect((await wrenn(["sandbox", "kill", "cli-web"], { env })).code).toBe(0);
    const ended = await wrenn(["sandbox", "info", "cli-web"], { env });
    expect(ended.stdout).toMatch(/state\s+stopped/);
    expect(ended.stdout).toMatch(/ended\s+destroyed/);
  });

  test("an expired sandbox says it expired and when, not 'not found'", async () => {
    const created = await wrenn(["sandbox", "create", "--name", "cli-short", "--timeout", "1"], {
      env,
    });
    expect(created.code).toBe(0);
    const short = created.stdout.trim();
    // The lifecycle loop ends it a second later; how long that takes is not this test's business.
    await waitFor(
      async () =>
        JSON.parse((await wrenn(["sandbox", "info", short, "--json"], { env })).stdout).state ===
        "stopped",
      120_000,
      "the sandbox to expire",
    );
    const info = await wrenn(["sandbox", "info", "cli-short"], { env });
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/expired\s+expired at \d{4}-\d\d-\d\dT\S+/);
    const exec = await wrenn(["sandbox", "exec", "cli-short", "--", "true"], { env });
    expect(exec.code).toBe(3);
    expect(exec.stderr).toMatch(new RegExp(`${short} expired at \\d{4}-`));
    const all = await wrenn(["sandbox", "ls", "--all"], { env });
    expect(all.stdout).toMatch(new RegExp(`${short}\\s+cli-short\\s+stopped.*expired`));
  });

  sandboxObserveCases(suite);

  test("keys create, ls, revoke and hosts ls need an admin key", async () => {
    const created = await wrenn(["keys", "create", "--name", "from-cli", "--json"], {
      env: adminEnv,
    });
    expect(created.code).toBe(0);
    const createdKey = JSON.parse(created.stdout) as { id: string; name: string; key: string };
    const { key } = createdKey;
    const apiKey = { id: createdKey.id };
    expect(createdKey).toMatchObject({ name: "from-cli", role: "user" });
    expect(key).toMatch(/^wrn_/);
    const plain = await wrenn(["keys", "create", "--name", "plain"], { env: adminEnv });
    expect(plain.stdout.trim()).toMatch(/^wrn_\w+$/);

    const ls = await wrenn(["keys", "ls"], { env: adminEnv });
    expect(ls.stdout).toMatch(new RegExp(`${apiKey.id}\\s+from-cli\\s+user`));
    const works = await wrenn(["sandbox", "ls", "--json"], { env: { ...env, WRENN_API_KEY: key } });
    expect(works.code).toBe(0);
    expect((await wrenn(["keys", "revoke", apiKey.id], { env: adminEnv })).code).toBe(0);
    const revoked = await wrenn(["sandbox", "ls"], { env: { ...env, WRENN_API_KEY: key } });
    expect(revoked.code).toBe(4);
    const listed = JSON.parse(
      (await wrenn(["keys", "ls", "--json", "--all"], { env: adminEnv })).stdout,
    ) as {
      id: string;
      revokedAt: string | null;
    }[];
    expect(listed.find((k) => k.id === apiKey.id)?.revokedAt).toBeTruthy();

    const notAdmin = await wrenn(["keys", "ls"], { env });
    expect(notAdmin.code).toBe(4);
    const hosts = await wrenn(["hosts", "ls", "--json"], { env: adminEnv });
    expect(hosts.code).toBe(0);
    expect(JSON.parse(hosts.stdout)[0]).toMatchObject({ status: "online" });
    const table = await wrenn(["hosts", "ls"], { env: adminEnv });
    expect(table.stdout).toMatch(/^ID\s+STATUS/);
    expect(table.stdout).toContain("online");
  });

  test("status: up with version and hosts; down exits 1", async () => {
    const up = await wrenn(["status", "--json"], { env: adminEnv });
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ up: true, apiUrl: stack.url });
    const down = await wrenn(["status"], { env: { ...env, WRENN_API_URL: "http://127.0.0.1:9" } });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^down/);
  });

  test("config: flags beat the environment, which beats config.toml", async () => {
    const fileEnv = { ...env, WRENN_API_URL: "", WRENN_API_KEY: "" };
    const dir = join(env.XDG_CONFIG_HOME!, "wrenn");
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "config.toml"),
      `api_url = "${stack.url}"\napi_key = "${user.key}"\n`,
    );
    expect((await wrenn(["sandbox", "ls"], { env: fileEnv })).code).toBe(0);
    const flag = await wrenn(["--api-key", "wrn_wrong", "sandbox", "ls"], { env: fileEnv });
    expect(flag.code).toBe(4);
    const envWins = await wrenn(["sandbox", "ls"], {
      env: { ...fileEnv, WRENN_API_URL: "http://127.0.0.1:9" },
    });
    expect(envWins.code).toBe(5);
    await writeFile(join(dir, "config.toml"), `api_url = "${stack.url}"\napi_token = "x"\n`);
    const unknown = await wrenn(["sandbox", "ls"], { env: fileEnv });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown key "api_token"');
    await rm(join(dir, "config.toml"));
  });
});
