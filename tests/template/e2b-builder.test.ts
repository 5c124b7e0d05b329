import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Sandbox, Template, waitForFile } from "e2b";
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

  test("buildInBackground + getBuildStatus with logs; a failing step reports its step", async () => {
    const t = Template().fromTemplate("base").runCmd("echo step-one").runCmd("exit 3");
    const b = await Template.buildInBackground(t, "sdk-fail", opts());
    let status = await Template.getBuildStatus(b, { ...opts(), logsOffset: 0 });
    while (status.status === "building" || status.status === "waiting") {
      await new Promise((r) => setTimeout(r, 500));
      status = await Template.getBuildStatus(b, { ...opts(), logsOffset: 0 });
    }
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
