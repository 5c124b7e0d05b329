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
});
