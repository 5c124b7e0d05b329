import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StartCommandFailed } from "../sandboxes/start-command.js";
import type { BuildProgress } from "./builder.js";
import { ImageBuildError, ImageTemplateBuilder } from "./image-builder.js";
import { type InstalledTemplate, TemplateStore } from "./store.js";

// The build's last step on a real template store: a template with a start command is handed,
// before it becomes current, to the step that runs it (SandboxManager.finalizeTemplate, run
// through runsc in tests/template/e2b-builder.test.ts); what that step says about the start
// command fails the build as step `finalize` and leaves nothing of it.

let root: string;
let store: TemplateStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "wrenn-finalize-"));
  store = new TemplateStore(root, { graceMs: 0, maxBytes: 0 });
  const dir = await store.startBuild("parent");
  await mkdir(path.join(dir, "rootfs", "etc"), { recursive: true });
  await writeFile(path.join(dir, "rootfs", "etc", "marker"), "parent\n");
  await store.install(dir, {
    name: "parent",
    version: "v1",
    builtAt: new Date().toISOString(),
    envdVersion: "0.0.0",
    sizeBytes: 0,
    description: "a parent",
  });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function builder(finalize: (t: InstalledTemplate) => Promise<void>) {
  return new ImageTemplateBuilder(store, async () => "0.0.0", [], undefined, finalize);
}

async function build(
  b: ImageTemplateBuilder,
  startCmd?: string,
): Promise<{ t?: InstalledTemplate; err?: unknown; progress: BuildProgress[] }> {
  const progress: BuildProgress[] = [];
  const outcome = await b
    .build({
      name: "child",
      image: "",
      fromTemplate: "parent",
      ...(startCmd ? { startCmd, readyCmd: "test -f /tmp/up" } : {}),
      onProgress: (p) => progress.push(p),
    })
    .then(
      (t) => ({ t }),
      (err: unknown) => ({ err }),
    );
  return { ...outcome, progress };
}

describe("a build's finalize step", () => {
  it("runs the start command on the built root before it is current, once", async () => {
    const seen: Array<{ current: boolean; marker: boolean; startCmd?: string }> = [];
    const { t } = await build(
      builder(async (c) => {
        seen.push({
          current: (await store.current("child")) !== undefined,
          marker: existsSync(path.join(c.rootfs, "etc", "marker")),
          ...(c.image?.startCmd ? { startCmd: c.image.startCmd } : {}),
        });
      }),
      "serve",
    );
    expect(seen).toEqual([{ current: false, marker: true, startCmd: "serve" }]);
    expect(t?.image?.startCmd).toBe("serve");
    expect((await store.current("child"))?.version).toBe(t?.version);
  });

  it("a failing start command fails the build as step finalize and leaves nothing", async () => {
    const { err, progress } = await build(
      builder(async () => {
        throw new StartCommandFailed(
          "the template's start command (serve) failed: exit code 4\nno config found",
          4,
          "no config found",
        );
      }),
      "serve",
    );
    expect(err).toBeInstanceOf(ImageBuildError);
    expect((err as ImageBuildError).code).toBe("template_step_failed");
    expect((err as Error).message).toBe(
      "step finalize failed: the template's start command (serve) failed: exit code 4\nno config found",
    );
    expect(progress.at(-1)?.phase).toBe("finalize");
    expect(await store.current("child")).toBeUndefined();
    expect(existsSync(path.join(root, "child"))).toBe(false);
    expect((await readdir(root)).filter((n) => !n.startsWith("."))).toEqual(["parent"]);
  });

  it("a failure of the host, not the template, stays what it was", async () => {
    const host = new Error("no network lease left");
    const { err } = await build(
      builder(async () => {
        throw host;
      }),
      "serve",
    );
    expect(err).toBe(host);
  });

  it("a template without a start command has no finalize step", async () => {
    let calls = 0;
    const { t, progress } = await build(
      builder(async () => {
        calls++;
      }),
    );
    expect(t).toBeDefined();
    expect(calls).toBe(0);
    expect(progress.map((p) => p.phase)).not.toContain("finalize");
  });
});
