import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { repoRoot } from "../harness/paths.js";
import { installPythonSdk } from "./python-venv.js";
import { readmeBlock } from "./readme-blocks.js";

// The SDKs as a user gets them: the npm tarballs of `npm run pack` installed into an empty
// directory with no registry, the Python package pip-installed offline into a venv, and the
// ten-line example at the top of each README run exactly as written against a real stack.
// The Python package's asyncio flavour is checked here too (async_check.py).
const run = promisify(execFile);

/** The later examples of the Python and Go READMEs (info string `python NAME`, `go NAME`). */
const laterExamples: [string, string][] = [
  ["snapshots", "saved in a snapshot\n"],
  ["workspaces", "running\nsuspended\nrunning\n"],
];

describe("installable SDKs and CLI (real stack)", () => {
  let stack: Stack;
  let scratch: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "wrenn-sdk-install-"));
    stack = await Stack.start({ poolSize: 1 });
    const { key } = await stack.key({ name: "install" });
    // Only what a user's shell would have: no workspace paths, no NODE_OPTIONS of the runner.
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      WRENN_API_URL: stack.url,
      WRENN_API_KEY: key,
      NO_COLOR: "1",
    };
  });
  afterAll(async () => {
    await stack?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  // Packing every workspace and installing it offline took over 300 s on a loaded host.
  test("npm tarballs install offline into an empty project; the SDK README's example and the CLI run", {
    timeout: 900_000,
  }, async () => {
    const pkgs = join(scratch, "pkgs");
    await run(process.execPath, [join(repoRoot, "bin/pack.mjs"), "--out", pkgs], { cwd: repoRoot });
    const tarballs = (await readdir(pkgs)).filter((f) => f.endsWith(".tgz"));
    expect(tarballs).toEqual(
      expect.arrayContaining([
        "wrenn-contract-0.1.0.tgz",
        "wrenn-proto-0.1.0.tgz",
        "wrenn-sdk-0.1.0.tgz",
        "wrenn-cli-0.1.0.tgz",
      ]),
    );
    const app = join(scratch, "app");
    await mkdir(app);
    await writeFile(join(app, "package.json"), '{ "name": "app", "private": true }\n');
    await run(
      "npm",
      ["install", "--offline", "--no-audit", "--no-fund", ...tarballs.map((t) => join(pkgs, t))],
      { cwd: app, env },
    );
    const installed = JSON.parse(
      await readFile(join(app, "node_modules/@wrenn/sdk/package.json"), "utf8"),
    );
    expect(installed.private).toBeUndefined();
    expect(installed.dependencies["@wrenn/contract"]).toBe("0.1.0");

    await writeFile(join(app, "hello.mjs"), await readmeBlock("packages/sdk/README.md", "js"));
    const hello = await run(process.execPath, ["hello.mjs"], { cwd: app, env });
    expect(hello.stdout).toBe("hello from Linux / written by the SDK\n");

    const wrenn = join(app, "node_modules/.bin/wrenn");
    const id = (await run(wrenn, ["sandbox", "create"], { cwd: app, env })).stdout.trim();
    expect(id).toMatch(/^sb-[0-9a-f]{8}$/);
    const exec = await run(wrenn, ["sandbox", "exec", id, "--", "echo", "from the CLI"], { env });
    expect(exec.stdout).toBe("from the CLI\n");
    await run(wrenn, ["sandbox", "kill", id], { env });
  });

  test("the Go module builds with no module proxy, set up by its README's commands; its example runs as written", {
    timeout: 900_000,
  }, async () => {
    const app = join(scratch, "go-app");
    await mkdir(app);
    const goEnv = { ...env, GOPROXY: "off", GOFLAGS: "-mod=mod" };
    await run("go", ["mod", "init", "example"], { cwd: app, env: goEnv });
    // The install block's command, with the checkout where this test runs.
    const install = (await readmeBlock("sdks/go/README.md", "sh")).trim();
    expect(install).toMatch(/^go mod edit /);
    const [go, ...args] = install.replaceAll("/path/to/wrenn", repoRoot).split(/\s+/);
    await run(go as string, args, { cwd: app, env: goEnv });
    await writeFile(join(app, "main.go"), await readmeBlock("sdks/go/README.md", "go"));
    const hello = await run("go", ["run", "."], { cwd: app, env: goEnv });
    expect(hello.stdout).toBe("hello from Linux\n");

    // Its later examples, as written, each a program of its own in the same module.
    for (const [name, printed] of laterExamples) {
      await mkdir(join(app, name));
      await writeFile(
        join(app, name, "main.go"),
        await readmeBlock("sdks/go/README.md", `go ${name}`),
      );
      const example = await run("go", ["run", `./${name}`], { cwd: app, env: goEnv });
      expect(example.stdout, name).toBe(printed);
    }
  });

  test("the Python package installs offline with pip; its README's example runs as written", {
    timeout: 900_000,
  }, async () => {
    const python = await installPythonSdk(scratch);
    await writeFile(
      join(scratch, "hello.py"),
      await readmeBlock("sdks/python/README.md", "python"),
    );
    const hello = await run(python, ["hello.py"], { cwd: scratch, env });
    expect(hello.stdout).toBe("Linux\nwritten by the SDK\nlater\nrunning\n");
    for (const [name, printed] of laterExamples) {
      const file = join(scratch, `${name}.py`);
      await writeFile(file, await readmeBlock("sdks/python/README.md", `python ${name}`));
      expect((await run(python, [file], { cwd: scratch, env })).stdout, name).toBe(printed);
    }

    // The asyncio flavour (a wrapper over threads; callbacks on the loop, cancelling a run kills
    // it, cancelling a wait detaches) on the same installed package.
    const check = await run(python, [join(repoRoot, "tests/sdk-scenario/async_check.py")], {
      cwd: scratch,
      env,
    });
    expect(JSON.parse(check.stdout)).toEqual({
      outputs: ["0", "2", "4", "6", "8"],
      background: "later\n",
      read: "async ✓",
      exitCode: 4,
      state: "running",
      callbacksOnLoop: [true, true],
      coroutineCallbackSaw: "err\n",
      cancelledRunKilled: true,
      cancelledWaitDetached: "done\n",
      templatesListed: true,
    });
  });
});
