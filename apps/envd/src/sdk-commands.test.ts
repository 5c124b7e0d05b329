import { join } from "node:path";
import { CommandExitError, type Sandbox, TimeoutError } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type EnvdWorld,
  initEnvd,
  openEnvd,
  type RunningEnvd,
  sdkSandbox,
} from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";

// The official E2B SDK as the client: commands. The default user is envd's (root on the host,
// `user` in a sandbox).

let world: EnvdWorld;
let envd: RunningEnvd;
let sbx: Sandbox;
let scratch: string;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  sbx = sdkSandbox(envd);
  scratch = await world.scratchDir("envd-cmd-", envd.defaultUser);
});

afterAll(async () => {
  await world?.close();
});

// Waits until the login shell has run its profile and printed "ready": killing `bash -l` in
// the middle of a profile script can leave that script's lock files behind on the host.
async function startedInBackground(command: string) {
  let seen = "";
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const handle = await sbx.commands.run(`echo ready; ${command}`, {
    background: true,
    onStdout: (data) => {
      seen += data;
      if (seen.includes("ready")) ready();
    },
  });
  await isReady;
  return handle;
}

describe("commands via the E2B SDK", () => {
  test("run returns stdout, stderr and exit code 0", async () => {
    const result = await sbx.commands.run("echo out; echo err >&2");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("out\n");
    expect(result.stderr).toBe("err\n");
    expect(result.error).toBeUndefined();
  });

  test("a failing command throws CommandExitError with the exit status", async () => {
    const error = await sbx.commands.run("echo nope >&2; exit 7").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandExitError);
    const exit = error as CommandExitError;
    expect(exit.exitCode).toBe(7);
    expect(exit.error).toBe("exit status 7");
    expect(exit.stderr).toBe("nope\n");
  });

  test("cwd defaults to the user's home and can be set", async () => {
    expect((await sbx.commands.run("pwd")).stdout.trim()).toBe(envd.home);
    expect((await sbx.commands.run("pwd", { cwd: scratch })).stdout.trim()).toBe(scratch);
  });

  test("a missing cwd is an error, not a crash", async () => {
    await expect(sbx.commands.run("pwd", { cwd: join(scratch, "missing") })).rejects.toThrow(
      /does not exist/,
    );
  });

  test("envs: identity variables, request envs win", async () => {
    const result = await sbx.commands.run('echo "$HOME|$USER|$LOGNAME|$FOO"', {
      envs: { FOO: "bar baz", USER: "overridden" },
    });
    expect(result.stdout.trim()).toBe(`${envd.home}|overridden|${envd.defaultUser}|bar baz`);
  });

  test("/init envVars reach every process, request envs override them", async () => {
    const local = await world.spawnEnvd();
    try {
      const res = await initEnvd(local, { envVars: { SANDBOX_VAR: "one", BOTH: "init" } });
      expect(res.status).toBe(204);
      const s = sdkSandbox(local);
      const out = await s.commands.run('echo "$SANDBOX_VAR $BOTH"', { envs: { BOTH: "request" } });
      expect(out.stdout.trim()).toBe("one request");
      const envs = (await (await fetch(`${local.url}/envs`)).json()) as Record<string, string>;
      expect(envs).toEqual({ SANDBOX_VAR: "one", BOTH: "init" });
    } finally {
      await local.stop();
    }
  });

  test("background command with callbacks, then wait", async () => {
    const chunks: string[] = [];
    const handle = await sbx.commands.run("for i in 1 2 3; do echo line$i; done", {
      background: true,
      onStdout: (data) => {
        chunks.push(data);
      },
    });
    const result = await handle.wait();
    expect(result.stdout).toBe("line1\nline2\nline3\n");
    expect(chunks.join("")).toBe("line1\nline2\nline3\n");
  });

  test("stdin: sendStdin then closeStdin ends cat", async () => {
    const handle = await sbx.commands.run("cat", { background: true, stdin: true });
    await sbx.commands.sendStdin(handle.pid, "hello ");
    await handle.sendStdin("world");
    await handle.closeStdin();
    const result = await handle.wait();
    expect(result.stdout).toBe("hello world");
  });

  test("stdin:false gives /dev/null, so cat ends at once", async () => {
    const result = await sbx.commands.run("cat; echo done", { stdin: false });
    expect(result.stdout).toBe("done\n");
  });

  test("sendStdin to an unknown pid is an error", async () => {
    await expect(sbx.commands.sendStdin(999_999_9, "x")).rejects.toThrow(/not found/);
  });

  test("list shows running processes and not ended ones", async () => {
    const handle = await startedInBackground("sleep 30");
    const listed = await sbx.commands.list();
    const mine = listed.find((p) => p.pid === handle.pid);
    expect(mine?.cmd).toBe("/bin/bash");
    expect(mine?.args).toEqual(["-l", "-c", "echo ready; sleep 30"]);
    expect(await handle.kill()).toBe(true);
    await handle.wait().catch(() => undefined);
    await eventually(async () =>
      (await sbx.commands.list()).some((p) => p.pid === handle.pid) ? undefined : true,
    );
  });

  test("kill ends a running command with signal: killed; unknown pid returns false", async () => {
    const handle = await startedInBackground("sleep 60");
    expect(await sbx.commands.kill(handle.pid)).toBe(true);
    const error = await handle.wait().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandExitError);
    expect((error as CommandExitError).exitCode).toBe(-1);
    expect((error as CommandExitError).error).toBe("signal: killed");
    expect(await sbx.commands.kill(handle.pid)).toBe(false);
  });

  test("connect to a running command receives its later output", async () => {
    const handle = await sbx.commands.run("read line; echo got:$line", {
      background: true,
      stdin: true,
    });
    const attached = await sbx.commands.connect(handle.pid);
    await sbx.commands.sendStdin(handle.pid, "abc\n");
    const result = await attached.wait();
    expect(result.stdout).toBe("got:abc\n");
    expect((await handle.wait()).stdout).toBe("got:abc\n");
  });

  test("timeoutMs kills the command at the deadline", async () => {
    const error = await sbx.commands
      .run("echo started; sleep 30", { timeoutMs: 3000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    // The process is gone too, not just the client's stream.
    await eventually(async () =>
      (await sbx.commands.list()).some((p) => p.args.includes("echo started; sleep 30"))
        ? undefined
        : true,
    );
  });

  test("runs as another user when asked (nobody)", async () => {
    const result = await sbx.commands.run("id -un; id -u", { user: "nobody" as never, cwd: "/" });
    const [name, uid] = result.stdout.trim().split("\n");
    expect(name).toBe("nobody");
    expect(uid).not.toBe("0");
  });

  test("an unknown user gets a clear error", async () => {
    await expect(sbx.commands.run("true", { user: "no-such-user-xyz" as never })).rejects.toThrow(
      /invalid username: 'no-such-user-xyz'/,
    );
  });

  test("a command that does not exist", async () => {
    const error = await sbx.commands.run("/definitely/not/here").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandExitError);
    expect((error as CommandExitError).exitCode).toBe(127);
  });
});
