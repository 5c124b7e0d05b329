import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Sandbox, Template, type TemplateClass, waitForFile, waitForPort } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { busyboxOnly, LoopbackRegistry } from "./oci-registry.js";

// The official E2B SDK's Template builder, unchanged, against Wrenn: POST /v3/templates, the
// COPY upload through a signed local link, POST /v2/templates/{id}/builds/{bid} with the steps,
// build status with logsOffset; then Sandbox.create(alias) sees every step's effect.

describe("the E2B SDK's Template builder", () => {
  let stack: Stack;
  let registry: LoopbackRegistry;
  let user: UserKey;
  let image: string;
  let context: string;
  const opts = () => ({ apiKey: user.key, apiUrl: stack.url, requestTimeoutMs: 120_000 });

  beforeAll(async () => {
    registry = await LoopbackRegistry.start();
    image = await registry.push("sdk:1", (r) => busyboxOnly(r), { env: ["PATH=/bin"] });
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "builder" });
    context = await mkdtemp(path.join(tmpdir(), "wrenn-sdk-ctx-"));
    await mkdir(path.join(context, "app"));
    await writeFile(path.join(context, "app", "hello.txt"), "hello from the context\n");
  });
  afterAll(async () => {
    await stack?.close();
    await registry?.stop();
    if (context) await rm(context, { recursive: true, force: true });
  });

  /** Template.buildInBackground, then getBuildStatus until the build ended. */
  async function builtInBackground(t: TemplateClass, name: string) {
    const b = await Template.buildInBackground(t, name, opts());
    let status = await Template.getBuildStatus(b, { ...opts(), logsOffset: 0 });
    while (status.status === "building" || status.status === "waiting") {
      await new Promise((r) => setTimeout(r, 500));
      status = await Template.getBuildStatus(b, { ...opts(), logsOffset: 0 });
    }
    return status;
  }

  test("fromImage + runCmd/copy/setEnvs/setWorkdir/setUser/setStartCmd, then Sandbox.create", async () => {
    const t = Template({ fileContextPath: context })
      .fromImage(image)
      .setUser("root")
      .runCmd("echo built-as-$(id -un) > /etc/built")
      .setUser("user")
      .setWorkdir("/home/user/app")
      .copy("app/hello.txt", "/home/user/app/")
      .setEnvs({ GREETING: "hi there" })
      .runCmd('echo "$GREETING" > greeting.txt')
      .setStartCmd("echo up > /tmp/ready; sleep 600", waitForFile("/tmp/ready"));
    const logs: string[] = [];
    const info = await Template.build(t, "sdk-app:v1", {
      ...opts(),
      onBuildLogs: (e) => logs.push(e.message),
    });
    expect(info.templateId).toMatch(/^tpl-/);
    expect(logs.join("\n")).toContain("RUN");

    const sbx = await Sandbox.create("sdk-app:v1", { ...opts(), sandboxUrl: stack.url });
    try {
      const r = await sbx.commands.run(
        "cat /etc/built hello.txt greeting.txt /tmp/ready; pwd; id -un; echo $GREETING",
      );
      expect(r.stdout).toBe(
        "built-as-root\nhello from the context\nhi there\nup\n/home/user/app\nuser\nhi there\n",
      );
    } finally {
      await sbx.kill();
    }
    expect(await Template.exists("sdk-app:v1", opts())).toBe(true);
    expect(await Template.exists("nothing-here", opts())).toBe(false);
  });

  test("setStartCmd runs once, at the build: sandboxes start with the service up", async () => {
    // The stamp is random: a start command run again at a create would write another one.
    const t = Template()
      .fromImage(image)
      .setStartCmd(
        "od -An -N8 -tx8 /dev/urandom > /tmp/stamp; mkdir -p /tmp/www; echo served > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www",
        "netstat -ltn | grep -q ':8080 '",
      );
    const logs: string[] = [];
    await Template.build(t, "sdk-svc", {
      ...opts(),
      onBuildLogs: (e) => logs.push(e.message),
    });
    expect(logs.join("\n")).toContain("ready command passed");
    expect(logs.join("\n")).toContain("saved with the service up");

    const a = await Sandbox.create("sdk-svc", { ...opts(), sandboxUrl: stack.url });
    const b = await Sandbox.create("sdk-svc", { ...opts(), sandboxUrl: stack.url });
    try {
      // At once, no waiting: the service was up in the checkpoint the sandbox restored.
      expect(await portGet(stack.url, a.getHost(8080))).toBe("served\n");
      const stamps = await Promise.all([a, b].map((s) => s.commands.run("cat /tmp/stamp")));
      expect(stamps[0]?.stdout).toMatch(/^\s*[0-9a-f]{16}\n$/);
      expect(stamps[1]?.stdout).toBe(stamps[0]?.stdout);
      expect(await portGet(stack.url, b.getHost(8080))).toBe("served\n");
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  test("a node service (its socket watched with epoll) is saved up too and answers at once", async () => {
    const t = Template()
      .fromTemplate("base")
      .setStartCmd(
        `node -e 'require("http").createServer((q, r) => r.end("node up")).listen(8081)'`,
        waitForPort(8081),
      );
    const logs: string[] = [];
    await Template.build(t, "sdk-node-svc", {
      ...opts(),
      onBuildLogs: (e) => logs.push(e.message),
    });
    expect(logs.join("\n")).toContain("saved with the service up");
    const a = await Sandbox.create("sdk-node-svc", { ...opts(), sandboxUrl: stack.url });
    try {
      expect(await portGet(stack.url, a.getHost(8081))).toBe("node up");
    } finally {
      await a.kill();
    }
  });

  test("a start command that fails fails its build as step finalize, with its exit code and output", async () => {
    const t = Template()
      .fromImage(image)
      .setStartCmd("echo starting; echo no config found >&2; exit 4", "test -f /tmp/never");
    const status = await builtInBackground(t, "sdk-svc-bad");
    expect(status.status).toBe("error");
    expect(status.reason?.step).toBe("finalize");
    expect(status.reason?.message).toContain("exit code 4");
    expect(status.reason?.message).toContain("no config found");
    await expect(
      Sandbox.create("sdk-svc-bad", { ...opts(), sandboxUrl: stack.url }),
    ).rejects.toThrow();
  });

  test("tags name one build: assignTags, getTags, removeTags; list, get, update, build logs", async () => {
    const call = async (method: string, p: string, body?: unknown, key = user.key) => {
      const r = await fetch(`${stack.url}${p}`, {
        method,
        headers: { "x-api-key": key, "content-type": "application/json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined };
    };
    type E2bTemplate = {
      templateID: string;
      buildID: string;
      buildStatus: string;
      names: string[];
      spawnCount: number;
      envdVersion: string;
      diskSizeMB: number;
    };
    // The template the first test built and made a sandbox from.
    const built = (await call("GET", "/templates/sdk-app:v1")).body as E2bTemplate & {
      builds: Array<{ buildID: string; status: string; finishedAt?: string }>;
    };
    expect(built.names).toEqual(["sdk-app:v1"]);
    expect(built.builds).toHaveLength(1);
    const build = built.builds[0]!;
    expect(build.status).toBe("ready");
    expect(build.finishedAt).toEqual(expect.any(String));
    expect((await call("GET", `/templates/${built.templateID}`)).body).toEqual(built);

    const assigned = await Template.assignTags("sdk-app:v1", ["prod", "stable"], opts());
    expect(assigned).toEqual({ buildId: build.buildID, tags: ["prod", "stable"] });
    const tagsOf = async (idOrName: string) =>
      (await Template.getTags(idOrName, opts())).map((t) => [t.tag, t.buildId]);
    const all = [
      ["prod", build.buildID],
      ["stable", build.buildID],
      ["v1", build.buildID],
    ];
    expect(await tagsOf("sdk-app")).toEqual(all);
    expect(await tagsOf(built.templateID)).toEqual(all);
    expect(await Template.exists("sdk-app:prod", opts())).toBe(true);
    // A tag is the build itself: a sandbox from it sees the build's steps.
    const tagged = await Sandbox.create("sdk-app:prod", { ...opts(), sandboxUrl: stack.url });
    try {
      expect((await tagged.commands.run("cat /etc/built")).stdout).toBe("built-as-root\n");
    } finally {
      await tagged.kill();
    }

    // Removing names never removes the build another name still has.
    await Template.removeTags("sdk-app", ["prod", "stable"], opts());
    expect(await Template.exists("sdk-app:prod", opts())).toBe(false);
    expect(await tagsOf("sdk-app")).toEqual([["v1", build.buildID]]);
    const still = await Sandbox.create("sdk-app:v1", { ...opts(), sandboxUrl: stack.url });
    await still.kill();
    // Unknown tags or targets: an error, and nothing changes.
    await expect(Template.removeTags("sdk-app", ["v1", "nope"], opts())).rejects.toThrow(/nope/);
    await expect(Template.assignTags("no-such:v1", "x", opts())).rejects.toThrow(/not found/);
    expect(await tagsOf("sdk-app")).toEqual([["v1", build.buildID]]);
    await expect(Template.getTags("no-such", opts())).rejects.toThrow(/not found/);
    const other = await stack.key({ name: "someone else" });
    await expect(Template.getTags("sdk-app", { ...opts(), apiKey: other.key })).rejects.toThrow();
    for (const [method, p, body] of [
      ["POST", "/templates/tags", { target: "sdk-app:v1", tags: [] }],
      ["POST", "/templates/tags", { target: "sdk-app:v1", tags: ["bad tag"] }],
      ["DELETE", "/templates/tags", { name: "sdk-app:v1", tags: ["v1"] }],
    ] as const) {
      const r = await call(method, p, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe(400);
    }

    // The list: E2B's Template per NAME:TAG, paged by X-Next-Token.
    const listed = await call("GET", "/v2/templates");
    expect(listed.status).toBe(200);
    const mine = (listed.body as E2bTemplate[]).find((t) => t.templateID === built.templateID);
    expect(mine).toMatchObject({
      buildID: build.buildID,
      buildStatus: "ready",
      names: ["sdk-app:v1"],
      envdVersion: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    expect(mine?.spawnCount).toBeGreaterThanOrEqual(3);
    expect(mine?.diskSizeMB).toBeGreaterThan(0);
    const names: string[] = [];
    let token: string | null = null;
    do {
      const q = `limit=1${token ? `&nextToken=${token}` : ""}`;
      const page = await call("GET", `/v2/templates?${q}`);
      expect(page.body).toHaveLength(1);
      names.push(...(page.body as E2bTemplate[]).map((t) => t.names[0]!));
      token = page.headers.get("x-next-token");
    } while (token);
    expect(names).toEqual((listed.body as E2bTemplate[]).map((t) => t.names[0]));
    expect((await call("GET", "/v2/templates?nextToken=zz")).status).toBe(400);
    expect((await call("GET", "/v2/templates", undefined, other.key)).body).toEqual([]);

    // Update: private stays private; public is refused, and bad input is a 400.
    const patched = await call("PATCH", `/v2/templates/${built.templateID}`, { public: false });
    expect(patched).toMatchObject({ status: 200, body: { names: ["sdk-app:v1"] } });
    const pub = await call("PATCH", `/v2/templates/${built.templateID}`, { public: true });
    expect(pub.status).toBe(400);
    expect(pub.body.message).toMatch(/public templates are not supported/);
    expect((await call("PATCH", "/v2/templates/sdk-app:v1", { public: "yes" })).status).toBe(400);

    // The build's logs: forward from a cursor, back from one, by level.
    const logs = async (q: string, bid = build.buildID) =>
      call("GET", `/templates/${built.templateID}/builds/${bid}/logs?${q}`);
    const forward = (await logs("")).body.logs as Array<{ message: string; timestamp: string }>;
    expect(forward.map((l) => l.message).join("\n")).toContain("RUN");
    const last = forward.at(-1)!;
    const back = (await logs(`direction=backward&limit=1`)).body.logs;
    expect(back).toHaveLength(1);
    expect(back[0].timestamp >= last.timestamp).toBe(true);
    const later = Date.parse(back[0].timestamp) + 1;
    expect((await logs(`cursor=${later}`)).body.logs).toEqual([]);
    for (const l of (await logs("level=error")).body.logs) expect(l.level).toBe("error");
    expect((await logs("", "00000000-0000-0000-0000-000000000000")).status).toBe(404);
    expect((await logs("limit=1000")).status).toBe(400);
    expect((await logs("direction=sideways")).status).toBe(400);
  });

  test("buildInBackground + getBuildStatus with logs; a failing step reports its step", async () => {
    const t = Template().fromTemplate("base").runCmd("echo step-one").runCmd("exit 3");
    const status = await builtInBackground(t, "sdk-fail");
    expect(status.status).toBe("error");
    expect(status.reason?.step).toBe("2");
    expect(status.reason?.message).toContain("exit code 3");
    expect(status.logEntries.map((e) => e.message).join("\n")).toContain("step-one");
  });

  test("fromDockerfile (the SDK turns it into steps) and Template.build's cache of uploads", async () => {
    const t = Template({ fileContextPath: context }).fromDockerfile(
      `FROM ${image}\nRUN echo from-dockerfile > /etc/df\nCOPY app/hello.txt /opt/\nENV DF=1\nWORKDIR /opt\n`,
    );
    await Template.build(t, "sdk-df", opts());
    const sbx = await Sandbox.create("sdk-df", { ...opts(), sandboxUrl: stack.url });
    try {
      const r = await sbx.commands.run("cat /etc/df hello.txt; echo $DF; pwd; id -un");
      expect(r.stdout).toBe("from-dockerfile\nhello from the context\n1\n/opt\nuser\n");
    } finally {
      await sbx.kill();
    }
  });

  test("upload links are signed: present after the PUT, a tampered or foreign link is refused", async () => {
    const call = (method: string, url: string, body?: string) =>
      fetch(url.startsWith("http") ? url : `${stack.url}${url}`, {
        method,
        headers: { "x-api-key": user.key, "content-type": "application/json" },
        ...(body !== undefined ? { body } : {}),
      });
    const created = (await (
      await call("POST", "/v3/templates", JSON.stringify({ name: "sdk-upload" }))
    ).json()) as { templateID: string };
    const hash = "c".repeat(64);
    const link = (await (
      await call("GET", `/templates/${created.templateID}/files/${hash}`)
    ).json()) as { present: boolean; url: string };
    expect(link.present).toBe(false);
    const tampered = link.url.replace(/token=[^&]+/, "token=AAAA");
    expect((await fetch(tampered, { method: "PUT", body: "x" })).status).toBe(403);
    // Refused before its body is read: the answer comes while the body is still being sent.
    const early = await new Promise<number | string>((resolve) => {
      const req = http.request(tampered, { method: "PUT" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on("error", () => {});
      req.write(Buffer.alloc(1 << 20));
      setTimeout(() => {
        resolve("no answer while the body was still coming");
        req.destroy();
      }, 30_000).unref();
    });
    expect(early).toBe(403);
    const otherHash = link.url.replace(`hash=${hash}`, `hash=${"d".repeat(64)}`);
    expect((await fetch(otherHash, { method: "PUT", body: "x" })).status).toBe(403);
    expect((await fetch(link.url, { method: "PUT", body: "tar bytes" })).status).toBe(200);
    const again = (await (
      await call("GET", `/templates/${created.templateID}/files/${hash}`)
    ).json()) as { present: boolean };
    expect(again.present).toBe(true);
    // Another owner's id is not theirs to get links for.
    const other = await stack.key({ name: "other builder" });
    const foreign = await fetch(`${stack.url}/templates/${created.templateID}/files/${hash}`, {
      headers: { "x-api-key": other.key },
    });
    expect(foreign.status).toBe(404);
  });

  test("bad input is a 4xx in E2B's shape", async () => {
    const post = async (p: string, body: unknown) => {
      const r = await fetch(`${stack.url}${p}`, {
        method: "POST",
        headers: { "x-api-key": user.key, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as { code: number; message: string } };
    };
    const create = async () =>
      (await post("/v3/templates", { name: "sdk-bad" })).body as unknown as {
        templateID: string;
        buildID: string;
      };
    for (const [steps, want] of [
      [[{ type: "ADD", args: ["a", "/b"] }], /unsupported step type "ADD"/],
      [
        [{ type: "COPY", args: ["../x", "/b"], filesHash: "a".repeat(64) }],
        /inside the build context/,
      ],
      [[{ type: "COPY", args: ["x", "/b"], filesHash: "b".repeat(64) }], /no files were uploaded/],
    ] as const) {
      const { templateID, buildID } = await create();
      const r = await post(`/v2/templates/${templateID}/builds/${buildID}`, {
        fromImage: image,
        steps,
      });
      expect(r.status, JSON.stringify(steps)).toBe(400);
      expect(r.body.code).toBe(400);
      expect(r.body.message).toMatch(want);
    }
  });
});

/** GET / of a sandbox's port through the stack's proxy, by its E2B host name (no DNS needed). */
function portGet(stackUrl: string, host: string): Promise<string> {
  const { hostname, port } = new URL(stackUrl);
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname, port, path: "/", headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}: ${body}`)),
      );
    });
    req.on("error", reject);
  });
}
