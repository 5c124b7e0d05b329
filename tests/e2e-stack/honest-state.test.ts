import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// The state the API reports is the truth within seconds, on bad days too: a sandbox that
// exhausts its memory or its task limit, one that fills /tmp, and an agent killed with -9 in
// the middle of a pause. Real stack: control plane, host agent, runsc sandboxes, envd.

interface SandboxBody {
  id: string;
  state: string;
  error: string | null;
  errorReason: string | null;
}

describe("honest state on bad days (real agent and runsc)", () => {
  let stack: Stack;
  let user: UserKey;
  let neighbour: string;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    user = await stack.key({ name: "bad days" });
    neighbour = await create({});
  });
  afterAll(() => stack?.close());

  async function create(body: Record<string, unknown>): Promise<string> {
    const created = await stack.call("POST", "/v1/sandboxes", { key: user.key, body });
    expect(created.status, created.text).toBe(201);
    return (created.body as { id: string }).id;
  }
  const get = async (id: string) =>
    (await stack.call("GET", `/v1/sandboxes/${id}`, { key: user.key })).body as SandboxBody;
  const exec = (id: string, command: string, timeoutSeconds = 120) =>
    stack.call("POST", `/v1/sandboxes/${id}/exec`, {
      key: user.key,
      body: { command, timeoutSeconds },
    });

  /** The neighbour keeps answering whatever happens beside it. */
  async function neighbourAnswers(): Promise<void> {
    const r = await exec(neighbour, "echo still-here");
    expect(r.status, r.text).toBe(200);
    expect((r.body as { stdout: string }).stdout).toBe("still-here\n");
  }

  /** Waits (generously: the machine is shared) until the sandbox leaves `running`. */
  async function settledOutOfRunning(id: string): Promise<SandboxBody> {
    let seen = await get(id);
    await waitFor(
      async () => {
        seen = await get(id);
        return seen.state !== "running";
      },
      180_000,
      `sandbox ${id} to leave running`,
    );
    return seen;
  }

  test("memory exhaustion: the hog alone is killed, /v1 and the e2b SDK say so, the sandbox lives on", async () => {
    const id = await create({ resources: { memoryMb: 256 } });
    const hog = "node -e 'const a = []; for (;;) a.push(Buffer.alloc(32 << 20, 1))'";
    const killed = await exec(id, hog, 300);
    expect(killed.status, killed.text).toBe(200);
    expect(killed.body).toMatchObject({ exitCode: -1, status: "signal: killed" });
    expect((await get(id)).state).toBe("running");

    // The official SDK sees what E2B's envd reports for a process the kernel's OOM killer ended.
    const sandbox = await Sandbox.connect(id, {
      apiKey: user.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
    });
    const failure = await sandbox.commands.run(hog).then(
      () => undefined,
      // CommandExitError: its fields are getters, so copy them out.
      (e: { exitCode?: number; error?: string }) => ({ exitCode: e.exitCode, error: e.error }),
    );
    expect(failure).toMatchObject({ exitCode: -1, error: "signal: killed" });
    expect((await sandbox.commands.run("echo alive")).stdout).toBe("alive\n");
    expect((await get(id)).state).toBe("running");
    await neighbourAnswers();
    expect((await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: user.key })).status).toBe(204);
  });

  test("with envd's OOM guard stopped, the host cgroup is the backstop: the sandbox reads error/oom, everywhere", async () => {
    const id = await create({ resources: { memoryMb: 256 } });
    // Root in the sandbox may break its own sandbox: here it stops envd (and with it the OOM
    // guard), then hogs memory until the host cgroup's OOM killer ends the whole sandbox. The
    // pattern is bracketed so that this shell's own command line does not match it.
    const stopGuardThenHog = [
      'for p in /proc/[0-9]*; do grep -qa "envd[.]mjs" "$p/cmdline" 2>/dev/null && kill -STOP "$(basename "$p")"; done',
      "exec node -e 'const a = []; for (;;) a.push(Buffer.alloc(32 << 20, 1))'",
    ].join("; ");
    await exec(id, stopGuardThenHog, 300).catch(() => undefined);
    const seen = await settledOutOfRunning(id);
    expect(seen).toMatchObject({ state: "error", errorReason: "oom" });
    expect(seen.error).toContain("memory");

    const refused = await exec(id, "true");
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: "sandbox_failed" } });

    // E2B's API has no error state: the sandbox is gone there (404), with the reason in the
    // message. The e2b SDK replaces that message with its own "not found".
    const e2b = await stack.call("GET", `/sandboxes/${id}`, { key: user.key });
    expect(e2b.status).toBe(404);
    expect(e2b.text).toContain("(oom)");
    await expect(
      Sandbox.connect(id, { apiKey: user.key, apiUrl: stack.url, sandboxUrl: stack.url }),
    ).rejects.toThrow(/not found/);

    const env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
    const info = await wrenn(["sandbox", "info", id], { env });
    expect(info.stdout).toMatch(/state\s+error/);
    expect(info.stdout).toContain("oom");

    await neighbourAnswers();
    expect((await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: user.key })).status).toBe(204);
  });

  test("a fork bomb: the sandbox reads error with the limit it hit; the neighbour is fine", async () => {
    const id = await create({ resources: { memoryMb: 256 } });
    await exec(id, "bomb() { bomb | bomb & }; bomb", 300).catch(() => undefined);
    const seen = await settledOutOfRunning(id);
    expect(seen.state).toBe("error");
    // Which limit a fork bomb reaches first depends on the machine: either is the truth.
    expect(["pids", "oom"]).toContain(seen.errorReason);
    await neighbourAnswers();
    expect((await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: user.key })).status).toBe(204);
  });

  test("filling /tmp stops at the sandbox's disk with ENOSPC, and the sandbox lives on", async () => {
    const id = await create({ resources: { memoryMb: 512, diskMb: 512 } });
    const fill = await exec(id, "head -c 1200M /dev/zero > /tmp/fill; echo status=$?", 300);
    expect(fill.status, fill.text).toBe(200);
    const body = fill.body as { stdout: string; stderr: string };
    expect(body.stdout).not.toContain("status=0");
    expect(body.stderr).toContain("No space left on device");
    expect((await get(id)).state).toBe("running");
    const after = await exec(id, "wc -c < /tmp/fill; rm /tmp/fill; echo alive");
    expect(after.status, after.text).toBe(200);
    const [bytes, alive] = (after.body as { stdout: string }).stdout.trim().split("\n");
    expect(Number(bytes)).toBeLessThan(512 * 1024 * 1024);
    expect(alive).toBe("alive");
    await neighbourAnswers();
  });

  test("kill -9 of the agent during a pause: the pause is settled as soon as the agent is back", async () => {
    const id = await create({});
    expect((await exec(id, "echo kept > ~/kept.txt")).status).toBe(200);
    const pausing = stack.call("POST", `/v1/sandboxes/${id}/pause`, { key: user.key });
    await waitFor(async () => (await get(id)).state === "pausing", 60_000, "the pause to begin");
    await stack.agent.kill9();
    await pausing.catch(() => undefined);
    await stack.agent.start();

    // Settled when the agent is back, not at the operation's deadline (300 s).
    let seen = await get(id);
    await waitFor(
      async () => {
        seen = await get(id);
        return !["pausing", "missing"].includes(seen.state);
      },
      120_000,
      "the interrupted pause to be settled",
    );
    expect(["paused", "running"]).toContain(seen.state);
    if (seen.state === "paused") {
      const resumed = await stack.call("POST", `/v1/sandboxes/${id}/resume`, { key: user.key });
      expect(resumed.status, resumed.text).toBe(200);
    }
    const read = await exec(id, "cat ~/kept.txt");
    expect(read.status, read.text).toBe(200);
    expect((read.body as { stdout: string }).stdout).toBe("kept\n");
    await neighbourAnswers();
  });
});
