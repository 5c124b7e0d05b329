// Cases of sandbox-commands.test.ts (its one stack, through CliSuite), split out by topic.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, test } from "vitest";
import type { CliSuite } from "./cli-suite.js";
import { WRENN_MAIN, wrenn } from "./wrenn-cli.js";

export function sandboxIoCases(c: CliSuite): void {
  test("exec streams stdout and stderr and passes the exit code through", async () => {
    const { env, id } = c;
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
    // Many chunks of stdin arrive whole and in order, and its end only after its last byte.
    const lines = Array.from({ length: 200_000 }, (_, i) => `line-${i}\n`).join("");
    const big = await wrenn(["sandbox", "exec", "-i", id, "--", "sha256sum"], {
      env,
      input: lines,
    });
    const sum = createHash("sha256").update(lines).digest("hex");
    expect(big.code, big.stderr).toBe(0);
    expect(big.stdout).toBe(`${sum}  -\n`);
    const cwd = await wrenn(["sbx", "exec", "-w", "/tmp", "-u", "root", id, "--", "pwd; whoami"], {
      env,
    });
    expect(cwd.stdout).toBe("/tmp\nroot\n");
  });

  test("exec passes binary output on byte for byte", async () => {
    const { env, id } = c;
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
    const { env, work, id } = c;
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
    const { env, id } = c;
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
      // Ctrl-C reaches the program inside, not wrenn. Sent once the program runs in the
      // terminal's foreground (it prints its marker as itself, then becomes sleep): sent while
      // the shell was still starting it, the signal reached the shell and sleep ran on.
      tmux("send-keys", "-t", "cli", "bash -c 'echo sleeping-now; exec sleep 100'", "Enter");
      await waitFor(/^sleeping-now$/m);
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
    const { env, work, id } = c;
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
    const { env, work, id } = c;
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
}
