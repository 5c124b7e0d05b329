import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { Stack, type UserKey } from "../e2e-stack/stack.js";

// A template build can be cancelled, runs under the operator's time limit, and an owner runs
// at most WRENN_TEMPLATE_BUILDS_PER_OWNER builds at once. A stopped build's step sandbox is
// killed on the host and nothing of the build stays. Real agent, real runsc step sandboxes.
//
// The cancel case runs under a limit it never reaches; the time-limit case then restarts the
// control plane (the operator changing WRENN_TEMPLATE_BUILD_TIMEOUT_S) with a short one, so
// the two never race however slow the machine is, and the suite waits seconds, not minutes.
const run = promisify(execFile);
const CANCEL_CASE_LIMIT_S = 3600;
const TIME_LIMIT_S = 15;

type Template = {
  status: string;
  usable: boolean;
  error: { code: string; message: string } | null;
};
type Build = { template: Template; logs: Array<{ message: string }> };

describe("stopping template builds", () => {
  let stack: Stack;
  let user: UserKey;
  let other: UserKey;

  beforeAll(async () => {
    stack = await Stack.start({
      poolSize: 0,
      config: { templateBuildTimeoutSeconds: CANCEL_CASE_LIMIT_S, templateBuildsPerOwner: 1 },
    });
    user = await stack.key({ name: "builder" });
    other = await stack.key({ name: "another builder" });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const build = (key: string, name: string, run: string) =>
    stack.call("POST", "/v1/templates", {
      key,
      body: { name, fromTemplate: "base", steps: [{ type: "RUN", args: [run] }] },
    });
  const buildOf = async (key: string, name: string) =>
    (await stack.call("GET", `/v1/templates/${name}/build?limit=1000`, { key })).body as Build;
  const waitFor = async <T>(what: string, check: () => Promise<T | undefined>, seconds = 240) => {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`waited ${seconds} s for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** The step's own output in the build log: the step sandbox is running it. */
  const stepRunning = (key: string, name: string, marker: string) =>
    waitFor(`${name}'s step to start`, async () => {
      const b = await buildOf(key, name);
      if (b.template.status !== "building") throw new Error(`${name}: ${JSON.stringify(b)}`);
      return b.logs.some((l) => l.message.includes(marker)) ? true : undefined;
    });
  /** Step sandboxes runsc still knows on the agent, and their bundles. */
  const leftovers = async () => {
    const { stdout } = await run("runsc", [
      `--root=${join(stack.dataDir, "agent", "runsc-steps")}`,
      "list",
    ]);
    const sandboxes = stdout.trim().split("\n").slice(1).filter(Boolean);
    const bundles = await readdir(join(stack.dataDir, "agent", "step-bundles")).catch(() => []);
    return [...sandboxes, ...bundles];
  };

  test("cancel kills the running step, keeps nothing, and the owner's build limit holds meanwhile", async () => {
    const started = await build(user.key, "slow:1", "echo started-long-step; sleep 600");
    expect(started.status, started.text).toBe(202);
    await stepRunning(user.key, "slow:1", "started-long-step");
    expect(await leftovers()).not.toEqual([]);

    // One build at a time for this owner: a second is refused and creates nothing.
    const second = await build(user.key, "second:1", "true");
    expect(second.status, second.text).toBe(429);
    expect((second.body as { error: { code: string } }).error.code).toBe(
      "too_many_template_builds",
    );
    const listed = (await stack.call("GET", "/v1/templates", { key: user.key })).body as {
      templates: Array<{ name: string }>;
    };
    expect(listed.templates.map((t) => t.name)).toEqual(["slow"]);
    // Another owner's limit is their own.
    const theirs = await build(other.key, "theirs:1", "echo their-step; sleep 600");
    expect(theirs.status, theirs.text).toBe(202);

    const cancelled = await stack.call("POST", "/v1/templates/slow:1/cancel", { key: user.key });
    expect(cancelled.status, cancelled.text).toBe(200);
    const t = cancelled.body as Template;
    expect(t.status).toBe("error");
    expect(t.usable).toBe(false);
    expect(t.error?.code).toBe("template_build_cancelled");

    // The CLI cancels the other owner's build the same way.
    await stepRunning(other.key, "theirs:1", "their-step");
    const env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: other.key });
    const cli = await wrenn(["template", "cancel", "theirs:1"], { env });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("theirs:1");
    expect((await buildOf(other.key, "theirs:1")).template.error?.code).toBe(
      "template_build_cancelled",
    );

    // Nothing of either build runs or stays on the host.
    await waitFor("the step sandboxes to go", async () =>
      (await leftovers()).length === 0 ? true : undefined,
    );
    const sandbox = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { template: "slow:1" },
    });
    expect(sandbox.status).toBe(404);

    // Nothing to cancel now, or ever for an unknown name.
    const again = await stack.call("POST", "/v1/templates/slow:1/cancel", { key: user.key });
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe("template_not_building");
    const unknown = await stack.call("POST", "/v1/templates/nope:1/cancel", { key: user.key });
    expect(unknown.status).toBe(404);
    // Another owner's build is not theirs to cancel.
    const foreign = await stack.call("POST", "/v1/templates/slow:1/cancel", { key: other.key });
    expect(foreign.status).toBe(404);

    // The slot is free again, and the same name builds cleanly.
    const rebuilt = await build(user.key, "slow:1", "echo quick > /tmp/quick");
    expect(rebuilt.status, rebuilt.text).toBe(202);
    const ready = await waitFor("the rebuild", async () => {
      const b = await buildOf(user.key, "slow:1");
      return b.template.status === "building" ? undefined : b.template;
    });
    expect(ready.status, JSON.stringify(ready)).toBe("ready");
  });

  test("a build past the time limit is stopped and says so", async () => {
    stack.config.templateBuildTimeoutSeconds = TIME_LIMIT_S;
    await stack.restartControlPlane();
    const started = await build(user.key, "forever:1", "echo started-forever; sleep 600");
    expect(started.status, started.text).toBe(202);
    const ended = await waitFor(
      "the time limit",
      async () => {
        const b = await buildOf(user.key, "forever:1");
        return b.template.status === "building" ? undefined : b.template;
      },
      TIME_LIMIT_S + 300,
    );
    expect(ended.status).toBe("error");
    expect(ended.error?.code).toBe("template_build_timed_out");
    expect(ended.error?.message).toContain(`${TIME_LIMIT_S} s`);
    await waitFor("the step sandbox to go", async () =>
      (await leftovers()).length === 0 ? true : undefined,
    );
  });
});
