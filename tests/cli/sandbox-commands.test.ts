import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Sandbox } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";
import { isolatedEnv, WRENN_MAIN, wrenn } from "./wrenn-cli.js";

// The `wrenn` binary against the real stack: every sandbox command, keys, hosts and logs.
describe("wrenn sandbox, keys, hosts", () => {
  let stack: Stack;
  let user: UserKey;
  let env: Record<string, string>;
  let adminEnv: Record<string, string>;
  let work: string;
  let id = "";

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

  test("network: create with egress flags, replace them, and a domain is refused", async () => {
    const created = await wrenn(
      ["sandbox", "create", "--no-internet", "--allow-out", "1.1.1.1", "--timeout", "600"],
      { env },
    );
    expect(created.code).toBe(0);
    const sid = created.stdout.trim();
    try {
      const shown = await wrenn(["sandbox", "info", sid], { env });
      expect(shown.stdout).toMatch(/network\s+only 1\.1\.1\.1/);
      const changed = await wrenn(
        ["sandbox", "network", sid, "--internet", "--deny-out", "9.9.9.0/24"],
        { env },
      );
      expect(changed).toMatchObject({ code: 0, stdout: `${sid}: internet except 9.9.9.0/24\n` });
      const info = JSON.parse((await wrenn(["sandbox", "info", sid, "--json"], { env })).stdout);
      expect(info).toMatchObject({
        allowInternetAccess: true,
        network: { allowOut: [], denyOut: ["9.9.9.0/24"] },
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

  test("exec streams stdout and stderr and passes the exit code through", async () => {
    const r = await wrenn(["sandbox", "exec", id, "--", "echo out; echo err >&2; exit 7"], { env });
    expect(r).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n" });
    // Several arguments are quoted one by one, like a local command line.
    const quoted = await wrenn(["sandbox", "exec", id, "--", "printf", "%s|", "a b", "c'd"], {
      env,
    });
    expect(quoted).toMatchObject({ code: 0, stdout: "a b|c'd|" });
    const stdin = await wrenn(["sandbox", "exec", "-i", id, "--", "tr a-z A-Z"], {
      env,
      input: "shout\n",
    });
    expect(stdin).toMatchObject({ code: 0, stdout: "SHOUT\n" });
    const cwd = await wrenn(["sbx", "exec", "-w", "/tmp", "-u", "root", id, "--", "pwd; whoami"], {
      env,
    });
    expect(cwd.stdout).toBe("/tmp\nroot\n");
  });

  test("exec passes binary output on byte for byte", async () => {
    const r = await wrenn(
      ["sandbox", "exec", id, "--", "sh -c 'head -c 200000 /dev/urandom | tee /tmp/b.bin'"],
      { env },
    );
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.length).toBe(200_000);
    const sum = await wrenn(["sandbox", "exec", id, "--", "sha256sum /tmp/b.bin | cut -c1-64"], {
      env,
    });
    expect(createHash("sha256").update(r.stdoutBytes).digest("hex")).toBe(sum.stdout.trim());
  });

  test("cp copies both ways, streaming a file bigger than one chunk", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await writeFile(join(work, "big.bin"), big);
    const up = await wrenn(["sandbox", "cp", join(work, "big.bin"), `${id}:/home/user/`], { env });
    expect(up.stderr).toBe(""); // no progress line off a terminal
    expect(up.code).toBe(0);
    const sum = await wrenn(
      ["sandbox", "exec", id, "--", "sha256sum /home/user/big.bin | cut -c1-64"],
      { env },
    );
    const local = execFileSync("sha256sum", [join(work, "big.bin")])
      .toString()
      .slice(0, 64);
    expect(sum.stdout.trim()).toBe(local);

    await wrenn(["sandbox", "exec", id, "--", "echo from the sandbox > /tmp/note.txt"], { env });
    const down = await wrenn(["sandbox", "cp", `${id}:/tmp/note.txt`, `${work}/`], { env });
    expect(down.code).toBe(0);
    expect(await readFile(join(work, "note.txt"), "utf8")).toBe("from the sandbox\n");
    const back = await wrenn(
      ["sandbox", "cp", `${id}:/home/user/big.bin`, join(work, "again.bin")],
      { env },
    );
    expect(back.code).toBe(0);
    expect((await readFile(join(work, "again.bin"))).equals(big)).toBe(true);

    const missing = await wrenn(["sandbox", "cp", `${id}:/nope.txt`, work], { env });
    expect(missing.code).toBe(3);
    const neither = await wrenn(["sandbox", "cp", join(work, "a"), join(work, "b")], { env });
    expect(neither.code).toBe(2);
  });

  test("shell: an interactive terminal that follows the window size (tmux)", async () => {
    const tmux = (...args: string[]) =>
      execFileSync("tmux", ["-L", `wrenn-cli-${process.pid}`, ...args], { encoding: "utf8" });
    const screen = () => tmux("capture-pane", "-p", "-t", "cli");
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 150; i++) {
        if (pattern.test(screen())) return;
        await sleep(100);
      }
      throw new Error(`screen never matched ${pattern}:\n${screen()}`);
    };
    const vars = Object.entries(env)
      .filter(([k]) => k.startsWith("WRENN_") || k === "XDG_CONFIG_HOME" || k === "NO_COLOR")
      .map(([k, v]) => `${k}=${v}`);
    const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const line = ["env", ...vars, process.execPath, WRENN_MAIN, "sandbox", "shell", id]
      .map(quote)
      .join(" ");
    // After the shell: its exit code on the screen, and time to read it.
    tmux(
      "new-session",
      "-d",
      "-s",
      "cli",
      "-x",
      "100",
      "-y",
      "30",
      `${line}; echo SHELL-EXIT=$?; sleep 30`,
    );
    try {
      tmux("set-option", "-t", "cli", "window-size", "manual");
      tmux("send-keys", "-t", "cli", "echo hello-$((6*7))", "Enter");
      await waitFor(/hello-42/);
      tmux("send-keys", "-t", "cli", "stty size", "Enter");
      await waitFor(/^30 100$/m);
      tmux("resize-window", "-t", "cli", "-x", "120", "-y", "40");
      await sleep(300);
      tmux("send-keys", "-t", "cli", "clear; stty size", "Enter");
      await waitFor(/^40 120$/m);
      // Ctrl-C reaches the program inside, not wrenn.
      tmux("send-keys", "-t", "cli", "sleep 100", "Enter");
      await sleep(500);
      tmux("send-keys", "-t", "cli", "C-c");
      tmux("send-keys", "-t", "cli", "echo still-here", "Enter");
      await waitFor(/^still-here$/m);
      tmux("send-keys", "-t", "cli", "exit 3", "Enter");
      await waitFor(/SHELL-EXIT=3/);
    } finally {
      try {
        tmux("kill-server");
      } catch {}
    }
  });

  test("cp -r copies directory trees both ways and says what it copied", async () => {
    const tree = join(work, "tree");
    await mkdir(join(tree, "sub", "deeper"), { recursive: true });
    await writeFile(join(tree, "a.txt"), "alpha\n");
    await writeFile(join(tree, "sub", "b.bin"), Buffer.alloc(300_000, 7));
    await writeFile(join(tree, "sub", "deeper", "ünï côde.txt"), "unicode\n");
    await mkdir(join(tree, "empty"));
    await symlink("a.txt", join(tree, "link"));

    const flat = await wrenn(["sandbox", "cp", tree, `${id}:/home/user/`], { env });
    expect(flat.code).toBe(2);
    expect(flat.stderr).toContain("use -r");

    const up = await wrenn(["sandbox", "cp", "-r", tree, `${id}:/home/user/`], { env });
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(
      `Copied 3 files and 4 directories (${"293.0 KiB"}): ${tree} → ${id}:/home/user/tree`,
    );
    expect(up.stdout).toContain("skipped 1 link(s)");
    const listing = await wrenn(
      ["sandbox", "exec", id, "--", "cd /home/user/tree && find . | sort && cat sub/deeper/*.txt"],
      { env },
    );
    expect(listing.stdout).toBe(
      ".\n./a.txt\n./empty\n./sub\n./sub/b.bin\n./sub/deeper\n./sub/deeper/ünï côde.txt\nunicode\n",
    );

    // Back out, into a directory that does not exist yet: the copy becomes that directory.
    const back = join(work, "back");
    const down = await wrenn(["sandbox", "cp", "-r", "-v", `${id}:/home/user/tree`, back], {
      env,
    });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(
      `${id}:/home/user/tree/sub/b.bin → ${join(back, "sub", "b.bin")}`,
    );
    expect(await readFile(join(back, "sub", "deeper", "ünï côde.txt"), "utf8")).toBe("unicode\n");
    expect((await readFile(join(back, "sub", "b.bin"))).equals(Buffer.alloc(300_000, 7))).toBe(
      true,
    );
    expect((await stat(join(back, "empty"))).isDirectory()).toBe(true);
  });

  test("cp shows a progress line on a terminal (tmux)", async () => {
    const tmux = (...args: string[]) =>
      execFileSync("tmux", ["-L", `wrenn-cp-${process.pid}`, ...args], { encoding: "utf8" });
    const vars = Object.entries(env)
      .filter(([k]) => k.startsWith("WRENN_") || k === "XDG_CONFIG_HOME" || k === "NO_COLOR")
      .map(([k, v]) => `${k}=${v}`);
    const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const args = ["sandbox", "cp", join(work, "big.bin"), `${id}:/tmp/progress.bin`];
    const line = ["env", ...vars, process.execPath, WRENN_MAIN, ...args].map(quote).join(" ");
    tmux(
      "new-session",
      "-d",
      "-s",
      "cp",
      "-x",
      "150",
      "-y",
      "10",
      `${line}; echo CP-EXIT=$?; sleep 30`,
    );
    try {
      let screen = "";
      for (let i = 0; i < 150 && !/CP-EXIT=/.test(screen); i++) {
        await sleep(100);
        screen = tmux("capture-pane", "-p", "-t", "cp");
      }
      expect(screen).toContain("CP-EXIT=0");
      expect(screen).toMatch(
        /big\.bin → sb-[0-9a-f]{8}:\/tmp\/progress\.bin 100% {2}5\.0 MiB \/ 5\.0 MiB/,
      );
    } finally {
      try {
        tmux("kill-server");
      } catch {}
    }
  });

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

  test("logs show what running processes print; -f follows new ones until the sandbox stops", async () => {
    const opts = { apiUrl: stack.url, apiKey: user.key };
    const box = await Sandbox.create("base", { ...opts, name: "cli-logs", timeoutMs: 600_000 });
    try {
      const early = await box.commands.start("echo early; sleep 20; echo late >&2");
      await early.disconnect();
      // One process, chosen by pid: its output from the start, stdout and stderr apart; the
      // command returns when the process ends.
      const one = await wrenn(["logs", "--pid", String(early.pid), "cli-logs"], { env });
      expect(one).toMatchObject({ code: 0, stdout: "early\n", stderr: "late\n" });

      const server = await box.commands.start("echo serving; sleep 600");
      await server.disconnect();
      let seen = "";
      const follow = wrenn(["sandbox", "logs", "-f", "cli-logs"], {
        env,
        onStdout: (soFar) => {
          seen = soFar;
        },
      });
      await waitFor(async () => seen.includes(`[${server.pid}] serving`), 60_000, "replay");
      // Looked for once a second: a process that lives that long is picked up.
      const later = await box.commands.start("echo started-later; sleep 600");
      await later.disconnect();
      await waitFor(
        async () => seen.includes(`[${later.pid}] started-later`),
        60_000,
        "a process started after logs -f",
      );
      await box.kill();
      const r = await follow;
      expect(r.code).toBe(0);
      const none = await wrenn(["logs", "cli-logs"], { env });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("is stopped");
    } finally {
      await box.kill().catch(() => {});
    }
  });

  test("port-forward carries TCP to a port inside the sandbox, over the API's port only", async () => {
    const opts = { apiUrl: stack.url, apiKey: user.key };
    const box = await Sandbox.create("base", { ...opts, name: "cli-pf", timeoutMs: 600_000 });
    let pid = 0;
    try {
      const server = await box.commands.start(
        "mkdir -p /tmp/www && cd /tmp/www && echo forwarded-ok > hello.txt && exec python3 -m http.server 8000 --bind 127.0.0.1",
      );
      await server.disconnect();
      let printed = "";
      const forward = wrenn(["sandbox", "port-forward", "cli-pf", "8000:0"], {
        env,
        onSpawn: (p) => {
          pid = p;
        },
        onStdout: (soFar) => {
          printed = soFar;
        },
      });
      await waitFor(() => /Forwarding 127\.0\.0\.1:\d+/.test(printed), 60_000, "the local port");
      const local = Number(/127\.0\.0\.1:(\d+)/.exec(printed)![1]);
      const get = () =>
        fetch(`http://127.0.0.1:${local}/hello.txt`)
          .then((r) => r.text())
          .catch(() => "");
      // The server in the sandbox may take a moment to listen.
      await waitFor(async () => (await get()) === "forwarded-ok\n", 120_000, "the forwarded page");
      // Connections at once each get their own relay.
      expect(await Promise.all([get(), get(), get()])).toEqual(Array(3).fill("forwarded-ok\n"));
      process.kill(pid, "SIGINT");
      expect((await forward).code).toBe(130);
      const refused = await fetch(`http://127.0.0.1:${local}/`).catch((e: Error) => e);
      expect(refused).toBeInstanceOf(Error);
    } finally {
      try {
        if (pid) process.kill(pid, "SIGKILL"); // only if an assertion left it running
      } catch {}
      await box.kill().catch(() => {});
    }
  });

  test("events show the sandbox's trail; another owner gets 404", async () => {
    const logs = await wrenn(["sandbox", "events", id], { env });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/sandbox\.create\s+ok/);
    expect(logs.stdout).toContain("sandbox.exec");
    expect(logs.stdout).toContain("sandbox.pause");
    const lines = (await wrenn(["events", "--json", "-n", "3", id], { env })).stdout
      .trim()
      .split("\n");
    expect(lines).toHaveLength(3);
    const events = lines.map((l) => JSON.parse(l) as { id: string; action: string });
    // Oldest first, as a log reads.
    expect(BigInt(events[0]!.id) < BigInt(events[2]!.id)).toBe(true);

    const other = await stack.key({ name: "nosy" });
    const foreign = await stack.call("GET", `/v1/sandboxes/${id}/events`, { key: other.key });
    expect(foreign.status).toBe(404);
    const page = await stack.call("GET", `/v1/sandboxes/${id}/events?limit=2`, { key: user.key });
    expect(page.status).toBe(200);
    const body = page.body as { events: { id: string }[]; nextBefore: string | null };
    expect(body.events).toHaveLength(2);
    expect(body.nextBefore).toBe(body.events[1]!.id);
    const older = await stack.call(
      "GET",
      `/v1/sandboxes/${id}/events?limit=2&before=${body.nextBefore}`,
      { key: user.key },
    );
    expect((older.body as { events: { id: string }[] }).events[0]!.id).not.toBe(body.events[1]!.id);
    const bad = await stack.call("GET", `/v1/sandboxes/${id}/events?before=abc`, { key: user.key });
    expect(bad.status).toBe(400);
    const spec = await stack.call("GET", "/openapi.json", { key: null });
    expect(Object.keys((spec.body as { paths: object }).paths)).toContain(
      "/v1/sandboxes/{id}/events",
    );
  });

  test("events --follow prints new events and ends when the sandbox is killed", async () => {
    const follow = wrenn(["sandbox", "events", "-f", "-n", "1", id], { env });
    await sleep(1500);
    await wrenn(["sandbox", "exec", id, "--", "echo followed"], { env });
    const killed = await wrenn(["sandbox", "kill", id], { env });
    expect(killed.code).toBe(0);
    const r = await follow;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("echo followed");
    expect(r.stdout).toContain("sandbox.destroy");
    const again = await wrenn(["sandbox", "ls", "--json"], { env });
    expect(JSON.parse(again.stdout)).toEqual([]);
    const missing = await wrenn(["sandbox", "kill", "sb-00000000"], { env });
    expect(missing.code).toBe(3);
  });

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
