import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { busyboxOnly, LoopbackRegistry } from "./oci-registry.js";

// Templates from OCI images through the control plane: /v1/templates per owner, the CLI's
// `wrenn template build NAME --from-image REF` with its streamed log, then sandboxes from it
// through /v1 and through the official E2B SDK, unchanged.

describe("templates from images through the API, the CLI and the E2B SDK", () => {
  let stack: Stack;
  let registry: LoopbackRegistry;
  let user: UserKey;
  let other: UserKey;
  let image: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    registry = await LoopbackRegistry.start();
    image = await registry.push("tiny:1", (r) => busyboxOnly(r, ["work"]), {
      env: ["PATH=/bin", "GREETING=hi from the image"],
      workdir: "/work",
    });
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "template user" });
    other = await stack.key({ name: "someone else" });
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
  });
  afterAll(async () => {
    await stack?.close();
    await registry?.stop();
  });

  test("wrenn template build --from-image streams the build's steps and ends ready", async () => {
    const r = await wrenn(["template", "build", "tiny:v1", "--from-image", image], { env });
    expect(r.stderr).toContain("[pull]");
    expect(r.stderr).toContain("[configure]");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("tiny:v1: ready");
    const ls = await wrenn(["template", "ls"], { env });
    expect(ls.stdout).toMatch(/^tiny:v1\s+ready\s/m);
    const info = await stack.call("GET", "/v1/templates/tiny:v1/build?logsOffset=0", {
      key: user.key,
    });
    const build = info.body as {
      template: { status: string; sizeMB: number | null };
      logs: unknown[];
      nextLogsOffset: number;
    };
    expect(build.template.status).toBe("ready");
    expect(build.nextLogsOffset).toBe(build.logs.length);
    // Its size as the agent measured it, shown and counted against the owner's storage pool.
    const sizeMB = build.template.sizeMB;
    expect(sizeMB).toBeGreaterThan(0);
    expect(ls.stdout).toMatch(new RegExp(`^tiny:v1\\s+ready\\s.*\\s${sizeMB}\\s`, "m"));
    const me = await stack.call("GET", "/v1/api-keys/current", { key: user.key });
    expect((me.body as { usage: { storageMb: number } }).usage.storageMb).toBe(sizeMB);
    // logsOffset pages on from where the last call ended.
    const later = await stack.call(
      "GET",
      `/v1/templates/tiny:v1/build?logsOffset=${build.nextLogsOffset}`,
      { key: user.key },
    );
    expect((later.body as { logs: unknown[] }).logs).toEqual([]);
  });

  test("templates are per owner", async () => {
    const theirs = await stack.call("GET", "/v1/templates", { key: other.key });
    expect((theirs.body as { templates: unknown[] }).templates).toEqual([]);
    const create = await stack.call("POST", "/v1/sandboxes", {
      key: other.key,
      body: { template: "tiny:v1" },
    });
    expect(create.status).toBe(404);
    expect((create.body as { error: { code: string } }).error.code).toBe("template_not_found");
    // Nor by the host's own name for the build.
    const { rows } = await stack.cp.db.query<{ host_template: string }>(
      "SELECT host_template FROM templates",
    );
    const hostName = rows[0]?.host_template as string;
    expect(hostName).toMatch(/^t-[0-9a-f]{8}$/);
    const direct = await stack.call("POST", "/v1/sandboxes", {
      key: other.key,
      body: { template: hostName },
    });
    expect(direct.status).toBe(404);
    expect((direct.body as { error: { code: string } }).error.code).toBe("template_not_found");
  });

  test("the official E2B SDK creates a sandbox from it and runs commands in the image", async () => {
    const sbx = await Sandbox.create("tiny:v1", {
      apiKey: user.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
      requestTimeoutMs: 60_000,
    });
    try {
      const run = await sbx.commands.run('echo "$GREETING"; pwd; id -un');
      expect(run).toMatchObject({ exitCode: 0, stdout: "hi from the image\n/work\nuser\n" });
      // /work is root's in the image (as Docker leaves it): user writes in its home.
      await sbx.files.write("/home/user/note.txt", "written by the SDK");
      expect(await sbx.files.read("/home/user/note.txt")).toBe("written by the SDK");

      // In use: 409 naming the sandbox; nothing changes.
      const del = await stack.call("DELETE", "/v1/templates/tiny:v1", { key: user.key });
      expect(del.status).toBe(409);
      const err = (del.body as { error: { code: string; message: string } }).error;
      expect(err.code).toBe("template_in_use");
      expect(err.message).toContain(sbx.sandboxId);
      expect((await sbx.commands.run("echo still")).stdout).toBe("still\n");
    } finally {
      await sbx.kill();
    }
    const rm = await wrenn(["template", "rm", "tiny:v1"], { env });
    expect(rm.code, rm.stderr).toBe(0);
    expect((await stack.call("GET", "/v1/templates/tiny:v1", { key: user.key })).status).toBe(404);
  });

  test("an image the registry does not have: 400 image_not_found, no template recorded", async () => {
    const r = await stack.call("POST", "/v1/templates", {
      key: user.key,
      body: { name: "ghost", fromImage: `${registry.host}/ghost:1` },
    });
    expect(r.status).toBe(400);
    expect((r.body as { error: { code: string } }).error.code).toBe("image_not_found");
    const list = await stack.call("GET", "/v1/templates", { key: user.key });
    expect((list.body as { templates: Array<{ name: string }> }).templates).toEqual([]);
  });

  test("bad names and references: 400, nothing recorded", async () => {
    for (const body of [
      { name: "Bad Name", fromImage: image },
      { name: "ok", fromImage: "--src-creds=a:b" },
      { name: "ok", fromImage: "docker://x/y" },
      { name: "ok" },
    ]) {
      const r = await stack.call("POST", "/v1/templates", { key: user.key, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((r.body as { error: { code: string } }).error.code).toBe("invalid_request");
    }
    const list = await stack.call("GET", "/v1/templates", { key: user.key });
    expect((list.body as { templates: unknown[] }).templates).toEqual([]);
  });
});
