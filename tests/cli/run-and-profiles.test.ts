import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { FakeInternet } from "../harness/fake-internet.js";
import { repoRoot, templatesDir } from "../harness/paths.js";
import { waitFor } from "../harness/wait.js";
import { isolatedEnv, WRENN_MAIN, wrenn } from "./wrenn-cli.js";

// A TCP connection to the fake internet from inside the sandbox: prints "hi" when it got through.
const PROBE =
  "timeout 5 bash -c 'exec 3<>/dev/tcp/198.18.72.2/8080 && cat <&3' || echo unreachable";

describe("wrenn profile (no server needed)", () => {
  let env: Record<string, string>;
  let profiles: string;

  beforeAll(async () => {
    env = await isolatedEnv();
    profiles = join(env.XDG_CONFIG_HOME!, "wrenn", "profiles");
    await mkdir(profiles, { recursive: true });
  });

  test("built-ins are listed and shown", async () => {
    const ls = await wrenn(["profile", "ls"], { env });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/strict\s+none\s+read-only\s+1\s+512 MiB\s+5 min\s+built-in/);
    expect(ls.stdout).toMatch(/dev\s+egress\s+read-write/);
    const show = await wrenn(["profile", "show", "default", "--json"], { env });
    expect(JSON.parse(show.stdout)).toMatchObject({
      network: "none",
      mount: "read-write",
      memoryMb: 1024,
    });
    const missing = await wrenn(["profile", "show", "nope"], { env });
    expect(missing.code).toBe(3);
  });

  test("a user profile starts from strict unless it says otherwise", async () => {
    await writeFile(join(profiles, "ci.toml"), 'description = "CI"\nvcpus = 2\nmemory_mb = 2048\n');
    const show = await wrenn(["profile", "show", "ci", "--json"], { env });
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      name: "ci",
      network: "none",
      mount: "read-only",
      vcpus: 2,
      memoryMb: 2048,
      timeoutSeconds: 300,
    });
    await writeFile(join(profiles, "web.toml"), 'extends = "dev"\ntimeout_seconds = 60\n');
    const web = JSON.parse((await wrenn(["profile", "show", "web", "--json"], { env })).stdout);
    expect(web).toMatchObject({ network: "egress", timeoutSeconds: 60 });
  });

  test("bad TOML names the line; unknown keys, wrong types and ranges are refused", async () => {
    await writeFile(join(profiles, "broken.toml"), 'network = "none"\nvcpus = = 2\n');
    const broken = await wrenn(["profile", "show", "broken"], { env });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`${join(profiles, "broken.toml")}:2:`);
    expect(broken.stderr).toContain("invalid TOML");

    const cases: [string, RegExp][] = [
      ['networking = "egress"\n', /unknown key "networking"/],
      ['network = "all"\n', /network must be one of "none", "egress"/],
      ['vcpus = "2"\n', /vcpus must be an integer/],
      ["vcpus = 1.5\n", /vcpus must be an integer/],
      ["memory_mb = 64\n", /memory_mb must be from 128 to 262144/],
      ["timeout_seconds = 0\n", /timeout_seconds must be from 1/],
      ['extends = "yolo"\n', /extends must be one of/],
      ["[network]\nmode = 1\n", /network must be one of/],
    ];
    for (const [text, error] of cases) {
      await writeFile(join(profiles, "bad.toml"), text);
      const r = await wrenn(["profile", "show", "bad"], { env });
      expect(r.code, text).toBe(2);
      expect(r.stderr, text).toMatch(error);
    }
    // A file cannot redefine a built-in (it would silently loosen every script naming it).
    await writeFile(join(profiles, "strict.toml"), 'network = "egress"\n');
    const shadow = await wrenn(["profile", "show", "strict"], { env });
    expect(shadow.code).toBe(2);
    expect(shadow.stderr).toContain("built-in profile");
    const ls = await wrenn(["profile", "ls"], { env });
    expect(ls.code).toBe(2);
    expect(ls.stderr).toContain("strict.toml");
    await rm(join(profiles, "strict.toml"));
    await rm(join(profiles, "bad.toml"));
    await rm(join(profiles, "broken.toml"));
  });

  test("completion scripts for bash, zsh and fish know the commands", async () => {
    const bash = await wrenn(["completion", "bash"], { env });
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -o filenames -F _wrenn wrenn");
    const sandboxWords = /"sandbox"\) words="([^"]*)"/.exec(bash.stdout)?.[1]?.split(" ") ?? [];
    for (const command of [
      "create",
      "ls",
      "info",
      "exec",
      "shell",
      "cp",
      "pause",
      "kill",
      "logs",
    ]) {
      expect(sandboxWords).toContain(command);
    }
    expect((await wrenn(["completion", "zsh"], { env })).stdout).toContain("bashcompinit");
    const fish = await wrenn(["completion", "fish"], { env });
    expect(fish.stdout).toContain("complete -c wrenn -n '__fish_use_subcommand' -a sandbox");
    expect((await wrenn(["completion", "tcsh"], { env })).code).toBe(2);
    // The bash script works: complete `wrenn sbx ex` in a real bash.
    const probe = await new Promise<string>((resolve) => {
      const child = spawn("bash", [
        "-c",
        `${bash.stdout}\nCOMP_WORDS=(wrenn sbx ex); COMP_CWORD=2; _wrenn; echo "\${COMPREPLY[*]}"`,
      ]);
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.on("close", () => resolve(out.trim()));
    });
    expect(probe).toBe("exec");
  });

  test("template ls --local runs the host agent's own CLI", async () => {
    const r = await wrenn(["template", "ls", "--local"], {
      env: { ...env, WRENN_TEMPLATES_DIR: templatesDir },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^base\s/m);
  });

  test("--help everywhere, with examples", async () => {
    for (const args of [
      [],
      ["sandbox"],
      ["sandbox", "exec"],
      ["run"],
      ["keys", "create"],
      ["template"],
      ["up"],
    ]) {
      const r = await wrenn([...args, "--help"], { env });
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout, args.join(" ")).toContain("Examples:");
    }
  });
});

describe("wrenn run", () => {
  let stack: Stack;
  let user: UserKey;
  let env: Record<string, string>;
  let dir: string;
  const internet = new FakeInternet("wtest-cli", [], 72);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wrenn-cli-run-"));
    await writeFile(join(dir, "input.txt"), "from the host\n");
    // Commands run as the sandbox's user: let it in (mkdtemp makes 0700 directories of root).
    await chmod(dir, 0o777);
    stack = await Stack.start({ poolSize: 1, agentEnv: { WRENN_MOUNT_ROOTS: dir } });
    user = await stack.key({ name: "run-user" });
    await internet.start();
    // Mounts need an admin key: that is the key `wrenn run` is used with on a local stack.
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: stack.adminKey });
  });
  afterAll(async () => {
    internet.stop();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const sandboxesLeft = async () => {
    const r = await stack.call("GET", "/v1/sandboxes");
    return (r.body as { sandboxes: { id: string }[] }).sandboxes.map((s) => s.id);
  };

  test("strict: reads DIR at /workspace, cannot write it nor reach the network", async () => {
    const r = await wrenn(
      [
        "run",
        "--profile",
        "strict",
        dir,
        "--",
        `pwd; cat input.txt; touch out.txt || echo no-write; ${PROBE}`,
      ],
      { env },
    );
    expect(r.stdout).toBe("/workspace\nfrom the host\nno-write\nunreachable\n");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("profile strict");
    expect(await sandboxesLeft()).toEqual([]);
  });

  test("dev: writes DIR and reaches the network; the exit code passes through", async () => {
    const r = await wrenn(
      ["run", "--profile", "dev", "-q", "--", `echo made > out.txt; ${PROBE}; exit 9`],
      {
        env,
        cwd: dir,
      },
    );
    expect(r).toMatchObject({ code: 9, stdout: "hi\n", stderr: "" });
    expect(await readFile(join(dir, "out.txt"), "utf8")).toBe("made\n");
    expect(await sandboxesLeft()).toEqual([]);
  });

  test("a user key cannot mount: DIR is copied in instead, and --copy-back brings changes home", async () => {
    const userEnv = { ...env, WRENN_API_KEY: user.key };
    const copied = await wrenn(["run", dir, "--", "cat input.txt; echo new > made.txt; whoami"], {
      env: userEnv,
    });
    expect(copied.stderr).toContain("cannot mount host directories (admin keys only)");
    expect(copied).toMatchObject({ code: 0, stdout: "from the host\nuser\n" });
    await expect(readFile(join(dir, "made.txt"), "utf8")).rejects.toThrow();

    const back = await wrenn(
      ["run", "--copy-back", dir, "--", "echo new > made.txt; mkdir -p sub; echo deep > sub/x"],
      { env: userEnv },
    );
    expect(back.code).toBe(0);
    expect(back.stderr).toContain("copied 2 changed file(s)");
    expect(await readFile(join(dir, "made.txt"), "utf8")).toBe("new\n");
    expect(await readFile(join(dir, "sub", "x"), "utf8")).toBe("deep\n");
    // input.txt was not changed by the command: it is not copied back over the host's.
    expect(back.stderr).not.toContain("input.txt");
    expect(await sandboxesLeft()).toEqual([]);
    await rm(join(dir, "made.txt"));
    await rm(join(dir, "sub"), { recursive: true });

    const strict = await wrenn(["run", "--profile", "strict", "--copy-back", dir, "--", "true"], {
      env: userEnv,
    });
    expect(strict.code).toBe(2);
  });

  test("a read-write mount of a root-owned DIR runs as root, so the command can write", async () => {
    const r = await wrenn(["run", "-q", dir, "--", "whoami; touch by-root && echo wrote"], { env });
    expect(r).toMatchObject({ code: 0, stdout: "root\nwrote\n" });
    await rm(join(dir, "by-root"));
  });

  test("usage: the command goes after --", async () => {
    const r = await wrenn(["run", dir], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("after --");
  });

  test("--keep leaves the sandbox; the profile's timeout ends the command with 124", async () => {
    await mkdir(join(env.XDG_CONFIG_HOME!, "wrenn", "profiles"), { recursive: true });
    await writeFile(
      join(env.XDG_CONFIG_HOME!, "wrenn", "profiles", "quick.toml"),
      "timeout_seconds = 2\n",
    );
    const r = await wrenn(["run", "--profile", "quick", "--keep", dir, "--", "sleep 30"], { env });
    expect(r.code).toBe(124);
    const kept = await sandboxesLeft();
    expect(kept).toHaveLength(1);
    expect(r.stderr).toContain(kept[0]);
    await stack.call("DELETE", `/v1/sandboxes/${kept[0]}`);
  });

  test("Ctrl-C (SIGINT) stops the run and removes its sandbox", async () => {
    let pid = 0;
    let output = "";
    const run = wrenn(["run", dir, "--", "echo started; sleep 120"], {
      env,
      onSpawn: (p) => {
        pid = p;
      },
      onStdout: (soFar) => {
        output = soFar;
      },
    });
    // Wait until the command runs in its sandbox: its first output says so. (A sandbox row
    // exists long before that: a run with a mounted directory boots cold, which on a busy
    // machine takes far longer than any fixed pause.)
    await waitFor(() => output.includes("started"), 240_000, "the command to start");
    expect(await sandboxesLeft()).toHaveLength(1);
    process.kill(pid, "SIGINT");
    const r = await run;
    expect(r.code).toBe(130);
    expect(r.stdout).toBe("started\n");
    expect(await sandboxesLeft()).toEqual([]);
  });

  test("the tests run the binary the package installs as `wrenn`", () => {
    const pkg = JSON.parse(readFileSync(`${repoRoot}packages/cli/package.json`, "utf8"));
    expect(`${repoRoot}packages/cli/${pkg.bin.wrenn.replace(/^\.\//, "")}`).toBe(WRENN_MAIN);
  });
});
