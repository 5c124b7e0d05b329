import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConflictError, InvalidArgumentError, NotFoundError, Workspaces } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";

// /v1/workspaces, @wrenn/sdk's Workspaces and `wrenn workspace` against the real stack: the
// same operations as hostd.v1.HostService, with the REST API's error bodies.
describe("workspaces over REST, the SDK and the CLI", () => {
  let stack: Stack;
  let user: UserKey;
  let opts: { apiKey: string; apiUrl: string };
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "ws-clients" });
    opts = { apiKey: user.key, apiUrl: stack.url };
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
  });
  afterAll(() => stack?.close());

  test("bad input is a 4xx with the contract's code, and creates nothing", async () => {
    const cases: [string, string, unknown, number, string][] = [
      ["POST", "/v1/workspaces", { name: "x", vcpus: 1000 }, 400, "invalid_request"],
      ["POST", "/v1/workspaces", { name: "x", diskGb: 0 }, 400, "invalid_request"],
      ["POST", "/v1/workspaces", { name: "Bad Name" }, 400, "invalid_request"],
      ["POST", "/v1/workspaces", { name: "x", extra: 1 }, 400, "invalid_request"],
      ["GET", "/v1/workspaces/nobody", undefined, 404, "workspace_not_found"],
      ["POST", "/v1/workspaces/nobody/suspend", undefined, 404, "workspace_not_found"],
      ["POST", "/v1/workspaces/nobody/resume", undefined, 404, "workspace_not_found"],
      ["DELETE", "/v1/workspaces/nobody", undefined, 404, "workspace_not_found"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await stack.call(method, path, { key: user.key, body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toBe(status);
      expect((r.body as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await stack.call("GET", "/v1/workspaces", { key: null })).status).toBe(401);
    await expect(Workspaces.get("nobody", opts)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Workspaces.create("x", { ...opts, vcpus: 1000 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await Workspaces.list(opts)).toEqual([]);
    expect((await stack.cp.db.query("SELECT id FROM sandboxes")).rows).toEqual([]);

    const missing = await wrenn(["workspace", "get", "nobody"], { env });
    expect(missing.code, missing.stderr).toBe(3);
    expect(missing.stderr).toMatch(/workspace nobody not found/);
    const badFlag = await wrenn(["ws", "create", "x", "--vcpus", "two"], { env });
    expect(badFlag.code).toBe(2);
  });

  test("create, list, get, suspend, resume and destroy through the SDK and the CLI", async () => {
    const created = await Workspaces.create("devbox", {
      ...opts,
      vcpus: 1,
      memoryMb: 512,
      diskGb: 2,
    });
    expect(created).toMatchObject({ name: "devbox", state: "running", vcpus: 1, diskGb: 2 });
    expect(created.image).toBe("base");
    expect(created.createdAt).toBeInstanceOf(Date);
    await expect(Workspaces.create("devbox", opts)).rejects.toBeInstanceOf(ConflictError);
    const taken = await stack.call("POST", "/v1/workspaces", {
      key: user.key,
      body: { name: "devbox" },
    });
    expect(taken.status).toBe(409);
    expect((taken.body as { error: { code: string } }).error.code).toBe("workspace_name_taken");

    // Another owner neither sees it nor is kept from the name.
    const other = await stack.key({ name: "ws-other" });
    expect(await Workspaces.list({ apiKey: other.key, apiUrl: stack.url })).toEqual([]);
    await expect(
      Workspaces.get("devbox", { apiKey: other.key, apiUrl: stack.url }),
    ).rejects.toBeInstanceOf(NotFoundError);

    const ls = await wrenn(["workspace", "ls", "--json"], { env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(
      (JSON.parse(ls.stdout) as { name: string; state: string }[]).map((w) => [w.name, w.state]),
    ).toEqual([["devbox", "running"]]);
    const table = await wrenn(["ws", "ls"], { env });
    expect(table.stdout).toMatch(/^NAME\s+STATE/);
    expect(table.stdout).toMatch(/devbox\s+running\s+1\s+512\s+2\s+base/);

    const suspended = await wrenn(["ws", "suspend", "devbox", "--json"], { env });
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(JSON.parse(suspended.stdout)).toMatchObject({ name: "devbox", state: "suspended" });
    expect((await Workspaces.get("devbox", opts)).state).toBe("suspended");
    expect((await Workspaces.resume("devbox", opts)).state).toBe("running");
    expect((await Workspaces.suspend("devbox", opts)).state).toBe("suspended");
    const resumed = await wrenn(["ws", "resume", "devbox", "--json"], { env });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ state: "running" });
    const got = await wrenn(["ws", "get", "devbox"], { env });
    expect(got.stdout).toMatch(/devbox\s+running/);

    // Its sandbox ends, and its end time moves, only through the workspace: /v1 and E2B deletes,
    // kills and timeout changes are refused with what to run instead, and change nothing.
    const { sandboxId } = await Workspaces.get("devbox", opts);
    const endBefore = await stack.cp.db.query<{ end_at: Date }>(
      "SELECT end_at FROM sandboxes WHERE id = $1",
      [sandboxId],
    );
    const direct: [string, string, unknown][] = [
      ["DELETE", `/v1/sandboxes/${sandboxId}`, undefined],
      ["POST", `/v1/sandboxes/${sandboxId}/timeout`, { timeoutSeconds: 60 }],
      ["DELETE", `/sandboxes/${sandboxId}`, undefined],
      ["POST", `/sandboxes/${sandboxId}/timeout`, { timeout: 60 }],
    ];
    for (const [method, path, body] of direct) {
      const r = await stack.call(method, path, { key: user.key, body });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(409);
      expect(r.text).toMatch(/wrenn ws rm devbox/);
      expect(r.text).toMatch(/DestroyWorkspace/);
      if (path.startsWith("/v1/")) {
        expect((r.body as { error: { code: string } }).error.code).toBe("workspace_sandbox");
      }
    }
    // Another owner still sees only a sandbox that is not there.
    const stranger = await stack.call("DELETE", `/v1/sandboxes/${sandboxId}`, { key: other.key });
    expect(stranger.status).toBe(404);
    const after = await stack.cp.db.query<{ state: string; end_at: Date }>(
      "SELECT state, end_at FROM sandboxes WHERE id = $1",
      [sandboxId],
    );
    expect(after.rows[0]?.state).toBe("running");
    expect(after.rows[0]?.end_at).toEqual(endBefore.rows[0]?.end_at);
    expect((await Workspaces.get("devbox", opts)).state).toBe("running");
    const kill = await wrenn(["sandbox", "kill", sandboxId], { env });
    expect(kill.code).not.toBe(0);
    expect(kill.stderr).toMatch(/wrenn ws rm devbox/);

    // Idle past its period, it is suspended by the lifecycle manager, never destroyed.
    await stack.cp.db.query(
      "UPDATE sandboxes SET end_at = now() - interval '1 second' WHERE id = $1",
      [sandboxId],
    );
    const sandboxRow = async () =>
      (
        await stack.cp.db.query<{ state: string; stop_reason: string | null }>(
          "SELECT state, stop_reason FROM sandboxes WHERE id = $1",
          [sandboxId],
        )
      ).rows[0];
    await waitFor(
      async () => (await sandboxRow())?.state === "paused",
      120_000,
      "the idle workspace's sandbox to be paused",
    );
    expect(await sandboxRow()).toEqual({ state: "paused", stop_reason: null });
    expect((await Workspaces.get("devbox", opts)).state).toBe("suspended");
    expect((await Workspaces.resume("devbox", opts)).state).toBe("running");

    const removed = await wrenn(["ws", "rm", "devbox"], { env });
    expect(removed.code, removed.stderr).toBe(0);
    await expect(Workspaces.get("devbox", opts)).rejects.toBeInstanceOf(NotFoundError);
    expect(await Workspaces.list(opts)).toEqual([]);
  });

  test("living in it: the workspace file, services kept running, run, status, version, hosts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wrenn-ws-living-"));
    const ws = (args: string[], cwd = dir) => wrenn(["ws", ...args], { env, cwd });
    try {
      const init = await ws([
        "init",
        "living",
        "--vcpus",
        "1",
        "--memory",
        "512",
        "--disk",
        "2",
        "--editor-path",
        "/home/user/app",
      ]);
      expect(init.code, init.stderr).toBe(0);
      const path = join(dir, "wrenn-workspace.toml");
      expect(init.stdout.trim()).toBe(path);
      expect((await ws(["init", "living"])).stderr).toMatch(/exists already/);
      // Two services: one that stays up (a web server), one that dies at once (restarted).
      await appendFile(
        path,
        [
          "[services.web]",
          'command = "mkdir -p /home/user/app && echo served > /home/user/app/index.html && exec python3 -m http.server $PORT"',
          'env = { PORT = "8001" }',
          "[services.flaky]",
          'command = "echo flaky ran in $(pwd); exit 3"',
          'cwd = "/tmp"',
          "",
        ].join("\n"),
      );
      // create takes its sizes from the file.
      const created = await ws(["create", "living", "--json"]);
      expect(created.code, created.stderr).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({ vcpus: 1, memoryMb: 512, diskGb: 2 });
      const { sandboxId } = await Workspaces.get("living", opts);

      const none = await ws(["services", "ls", "living", "--json"]);
      expect(none.code, none.stderr).toBe(0);
      expect(JSON.parse(none.stdout)).toEqual([]);
      const started = await ws(["services", "restart", "living"]);
      expect(started.code, started.stderr).toBe(0);
      const exec = async (command: string) =>
        (
          (
            await stack.call("POST", `/v1/sandboxes/${sandboxId}/exec`, {
              key: user.key,
              body: { command },
            })
          ).body as { stdout: string }
        ).stdout;
      const answers = async () =>
        (await exec("curl -s http://127.0.0.1:8001/app/index.html")) === "served\n";
      await waitFor(answers, 60_000, "the web service to answer").catch(async (error) => {
        // What the supervisor saw, to say why.
        const seen = await exec(
          'ps -eo pid,sid,args; for f in ~/.wrenn/services/*/*; do echo "== $f"; tail -n 20 $f; done',
        );
        throw new Error(`${(error as Error).message}\n${seen}`);
      });
      const services = async () =>
        JSON.parse((await ws(["services", "ls", "living", "--json"])).stdout) as {
          name: string;
          state: string;
          pid: number | null;
          restarts: number;
        }[];
      // The flaky one is started again after each exit (1 s, then 2 s: three runs in time).
      await waitFor(
        async () => ((await services()).find((s) => s.name === "flaky")?.restarts ?? 0) >= 2,
        120_000,
        "the flaky service to be restarted",
      );
      const logs = await ws(["services", "logs", "living", "flaky", "-n", "50"]);
      expect(logs.stdout).toContain("flaky ran in /tmp");
      expect(logs.stdout).toMatch(/flaky exited with status 3; starting it again/);
      // The web server killed from inside comes back with a new pid.
      const web = (await services()).find((s) => s.name === "web");
      expect(web?.state).toBe("running");
      await exec(`kill -9 ${web?.pid}`);
      await waitFor(
        async () => {
          const again = (await services()).find((s) => s.name === "web");
          return again?.state === "running" && again.pid !== web?.pid;
        },
        60_000,
        "the killed web service to be started again",
      );
      // Stopped, it stays stopped.
      const stopped = await ws(["services", "stop", "living", "flaky"]);
      expect(stopped.code, stopped.stderr).toBe(0);
      const after = await services();
      expect(after.find((s) => s.name === "flaky")?.state).toBe("stopped");
      expect(after.find((s) => s.name === "web")?.state).toBe("running");
      expect((await ws(["services", "stop", "living", "nosuch"])).code).toBe(2);
      expect((await ws(["services", "restart", "living", "nosuch"])).stderr).toMatch(
        /declares no service nosuch/,
      );
      expect((await ws(["services", "logs", "living", "../etc"])).code).toBe(2);

      // status reads without waking; run copies a script in, runs it in editor.path, passes
      // its arguments and exit status through.
      const status = await ws(["status", "living", "--json"]);
      expect(JSON.parse(status.stdout)).toMatchObject({ name: "living", state: "running" });
      await writeFile(
        join(dir, "check.sh"),
        '#!/bin/sh\necho "in $(pwd) as $(id -un) with $1"\nexit 7\n',
      );
      const ran = await ws(["run", "living", "check.sh", "arg one"]);
      expect(ran.stdout).toBe("in /home/user/app as user with arg one\n");
      expect(ran.code).toBe(7);
      expect((await ws(["run", "living", "missing.sh"])).code).toBe(2);
      const version = await ws(["version", "living", "--json"]);
      expect(JSON.parse(version.stdout)).toMatchObject({ supervisor: "1", apiUrl: stack.url });
      expect(JSON.parse(version.stdout).server).toMatch(/^\d+\.\d+\.\d+/);

      // Suspended, status says so and wakes nothing.
      await Workspaces.suspend("living", opts);
      const asleep = await ws(["status", "living"]);
      expect(asleep.stdout).toMatch(/^state\s+suspended$/m);
      expect(asleep.stdout).toMatch(/not read while suspended/);
      expect((await Workspaces.get("living", opts)).state).toBe("suspended");
      // Resumed, its services are still there (their processes came back with it).
      await Workspaces.resume("living", opts);
      await waitFor(
        async () => (await exec("curl -s http://127.0.0.1:8001/app/index.html")) === "served\n",
        60_000,
        "the web service to answer after resume",
      );

      // Snapshots (of a workspace with no listening service: runsc checkpoints no listener).
      expect((await ws(["services", "stop", "living"])).code).toBe(0);
      expect((await services()).map((s) => s.state)).toEqual(["stopped", "stopped"]);
      await exec("echo before > ~/mark.txt");
      const snapped = await ws(["snap", "create", "living"]);
      expect(snapped.code, snapped.stderr).toBe(0);
      const snapId = snapped.stdout.trim();
      expect(snapId).toMatch(/^snap-[0-9a-f]{8}$/);
      await exec("echo after > ~/mark.txt");
      const listed = JSON.parse((await ws(["snap", "ls", "living", "--json"])).stdout);
      expect(listed.map((x: { id: string }) => x.id)).toEqual([snapId]);
      const badRestores: [unknown, number, string][] = [
        [{ snapshotId: "nope" }, 400, "invalid_request"],
        [{ snapshotId: "snap-00000000" }, 404, "snapshot_not_found"],
        [{}, 400, "invalid_request"],
      ];
      for (const [body, status, code] of badRestores) {
        const r = await stack.call("POST", "/v1/workspaces/living/restore", {
          key: user.key,
          body,
        });
        expect(r.status, r.text).toBe(status);
        expect((r.body as { error: { code: string } }).error.code).toBe(code);
      }
      expect((await Workspaces.get("living", opts)).sandboxId).toBe(sandboxId);
      const restored = await ws(["snap", "restore", "living", snapId, "--json"]);
      expect(restored.code, restored.stderr).toBe(0);
      const back = JSON.parse(restored.stdout) as { sandboxId: string; state: string };
      expect(back.state).toBe("running");
      expect(back.sandboxId).not.toBe(sandboxId);
      const fromSnap = await stack.call("POST", `/v1/sandboxes/${back.sandboxId}/exec`, {
        key: user.key,
        body: { command: "cat ~/mark.txt" },
      });
      expect((fromSnap.body as { stdout: string }).stdout).toBe("before\n");
      const oldRow = await stack.cp.db.query<{ state: string }>(
        "SELECT state FROM sandboxes WHERE id = $1",
        [sandboxId],
      );
      expect(oldRow.rows[0]?.state).toBe("stopped");

      // The servers the CLI knows: the default one is used with no URL in the environment.
      const { WRENN_API_URL: _u, WRENN_API_KEY: _k, ...bare } = env;
      const hostCli = (args: string[]) => wrenn(["ws", "host", ...args], { env: bare });
      expect((await hostCli(["add", "Bad!", stack.url])).code).toBe(2);
      expect((await hostCli(["add", "x", "ftp://host"])).code).toBe(2);
      expect((await hostCli(["add", "here", stack.url, "--key", user.key])).code).toBe(0);
      expect((await hostCli(["add", "elsewhere", "http://127.0.0.1:9"])).code).toBe(0);
      const hosts = JSON.parse((await hostCli(["ls", "--json"])).stdout);
      expect(hosts).toEqual([
        { name: "here", apiUrl: stack.url, hasKey: true, default: true },
        { name: "elsewhere", apiUrl: "http://127.0.0.1:9", hasKey: false, default: false },
      ]);
      const viaHost = await wrenn(["ws", "ls", "--json"], { env: bare });
      expect(viaHost.code, viaHost.stderr).toBe(0);
      expect(JSON.parse(viaHost.stdout).map((w: { name: string }) => w.name)).toEqual(["living"]);
      expect((await hostCli(["default", "nowhere"])).code).toBe(3);
      expect((await hostCli(["default", "elsewhere"])).code).toBe(0);
      expect((await wrenn(["ws", "ls"], { env: bare })).stderr).toMatch(/no API key/);
      expect((await hostCli(["rm", "elsewhere"])).code).toBe(0);
      expect(JSON.parse((await hostCli(["ls", "--json"])).stdout)).toEqual([
        { name: "here", apiUrl: stack.url, hasKey: true, default: false },
      ]);
    } finally {
      await Workspaces.destroy("living", opts).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});
