import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { busyboxOnly, LoopbackRegistry } from "./oci-registry.js";

// `wrenn template build NAME -f Dockerfile CONTEXT`: the CLI parses the Dockerfile into the
// same steps as E2B's builder, uploads COPY's files by hash, and the build's log streams with
// each step's number; an instruction it does not support is refused by name and line.

describe("wrenn template build -f Dockerfile", () => {
  let stack: Stack;
  let registry: LoopbackRegistry;
  let user: UserKey;
  let image: string;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    registry = await LoopbackRegistry.start();
    image = await registry.push("df:1", (r) => busyboxOnly(r), { env: ["PATH=/bin"] });
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "dockerfile user" });
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
    dir = await mkdtemp(path.join(tmpdir(), "wrenn-df-"));
    await mkdir(path.join(dir, "site"));
    await writeFile(path.join(dir, "site", "index.html"), "<h1>hi</h1>\n");
  });
  afterAll(async () => {
    await stack?.close();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("FROM image, RUN, COPY, ENV, WORKDIR, USER, CMD: each step's effect in the sandbox", async () => {
    await writeFile(
      path.join(dir, "Dockerfile"),
      `FROM ${image}
# comments and continued lines
RUN echo one > /etc/one && \\
    echo two >> /etc/one
ENV MODE="from the dockerfile"
WORKDIR /srv/site
COPY --chown=user site/ /srv/site/
USER user
RUN echo "$MODE" > mode.txt
CMD ["sh", "-c", "echo served > /tmp/cmd-ran; sleep 600"]
`,
    );
    const r = await wrenn(
      [
        "template",
        "build",
        "df:v1",
        "-f",
        path.join(dir, "Dockerfile"),
        dir,
        "--ready-cmd",
        "test -f /tmp/cmd-ran",
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("[step-1]");
    expect(r.stderr).toContain("[7/8] USER user");
    expect(r.stdout).toContain("df:v1: ready");
    const sbx = await Sandbox.create("df:v1", {
      apiKey: user.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
      requestTimeoutMs: 60_000,
    });
    try {
      const out = await sbx.commands.run(
        "cat /etc/one index.html mode.txt /tmp/cmd-ran; pwd; id -un; ls -ln index.html",
      );
      expect(out.stdout).toMatch(
        /^one\ntwo\n<h1>hi<\/h1>\nfrom the dockerfile\nserved\n\/srv\/site\nuser\n.* 1000 +1000 /,
      );
    } finally {
      await sbx.kill();
    }
  });

  test("a Dockerfile instruction it cannot support is refused by name and line; nothing built", async () => {
    await writeFile(
      path.join(dir, "Bad.dockerfile"),
      `FROM ${image}\nRUN true\nADD https://x/y /y\n`,
    );
    const r = await wrenn(
      ["template", "build", "df-bad", "-f", path.join(dir, "Bad.dockerfile"), dir],
      { env },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("line 3 (ADD)");
    const list = await stack.call("GET", "/v1/templates", { key: user.key });
    expect(
      (list.body as { templates: Array<{ name: string }> }).templates.map((t) => t.name),
    ).not.toContain("df-bad");
  });

  test("a rebuild reuses the cached steps; --no-cache (force in /v1's body) reruns them all", async () => {
    await writeFile(
      path.join(dir, "Stamp.dockerfile"),
      `FROM ${image}\nRUN head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /stamp\n`,
    );
    const build = (...extra: string[]) =>
      wrenn(
        ["template", "build", "df-stamp", "-f", path.join(dir, "Stamp.dockerfile"), dir, ...extra],
        { env },
      );
    const stampOf = async () => {
      const sbx = await Sandbox.create("df-stamp", {
        apiKey: user.key,
        apiUrl: stack.url,
        sandboxUrl: stack.url,
        requestTimeoutMs: 60_000,
      });
      try {
        return (await sbx.commands.run("cat /stamp")).stdout;
      } finally {
        await sbx.kill();
      }
    };
    const first = await build();
    expect(first.code, first.stderr).toBe(0);
    const stamp = await stampOf();
    expect(stamp).toMatch(/^[0-9a-f]{32}$/);
    const again = await build();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/CACHED \[\d+\/\d+\] RUN/);
    expect(await stampOf()).toBe(stamp);

    const forced = await build("--no-cache");
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).not.toContain("CACHED");
    expect(await stampOf()).not.toBe(stamp);

    // force is validated by the contract: anything but a boolean is a 400, and builds nothing.
    const bad = await stack.call("POST", "/v1/templates", {
      key: user.key,
      body: { name: "df-force-bad", fromImage: image, force: "yes" },
    });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { code: string } }).error.code).toBe("invalid_request");
    const list = await stack.call("GET", "/v1/templates", { key: user.key });
    expect(
      (list.body as { templates: Array<{ name: string }> }).templates.map((t) => t.name),
    ).not.toContain("df-force-bad");
  });

  test("a failing RUN fails the build naming the step and its exit code", async () => {
    await writeFile(path.join(dir, "Fail.dockerfile"), `FROM base\nRUN echo ok\nRUN exit 9\n`);
    const r = await wrenn(
      ["template", "build", "df-fail", "-f", path.join(dir, "Fail.dockerfile"), dir],
      { env },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/build failed at step step-4: .*exit code 9/);
  });
});
