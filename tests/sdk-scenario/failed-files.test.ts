import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { killSandboxRuntime } from "../e2e-stack/kill-runtime.js";
import { Stack } from "../e2e-stack/stack.js";
import { repoRoot } from "../harness/paths.js";
import { waitFor } from "../harness/wait.js";
import { installPythonSdk } from "./python-venv.js";
import { readmeBlock } from "./readme-blocks.js";

// A failed sandbox's files, read with the Python SDK (WrennClient().sandboxes, and its asyncio
// flavour) and the Go SDK (Client.Sandboxes) on one real stack: the same bytes, the same tar,
// and the contract's codes as the same typed errors (file_not_found, files_read_busy retryable,
// sandbox_not_running for a running sandbox's archive). The TypeScript SDK's readFile/archive
// are the reference (tests/e2e-stack/failed-sandbox-files.test.ts covers the server side).
const run = promisify(execFile);

describe("a failed sandbox's files from Python and Go (real stack)", () => {
  let stack: Stack;
  let scratch: string;
  let env: NodeJS.ProcessEnv;
  let bigSha = "";
  let failedId = "";
  let python: string | undefined;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "wrenn-sdk-failed-files-"));
    stack = await Stack.start({ poolSize: 0 });
    const { key } = await stack.key({ name: "failed-files" });
    // Running past every read below (a loaded host takes minutes), never timed out meanwhile.
    const create = async () => {
      const r = await stack.call("POST", "/v1/sandboxes", { key, body: { timeoutSeconds: 3600 } });
      expect(r.status, r.text).toBe(201);
      return (r.body as { id: string }).id;
    };
    const failed = await create();
    failedId = failed;
    const running = await create();
    const setup = await stack.call("POST", `/v1/sandboxes/${failed}/exec`, {
      key,
      body: {
        command: [
          "set -e",
          "mkdir -p ~/out/sub",
          "printf 'from a failed sandbox\\n' > ~/out/a.txt",
          "echo deeper > ~/out/sub/b.txt",
          // Bigger than every buffer between the reader and the SDK: it comes as a stream.
          "head -c 8388608 /dev/urandom > ~/out/big.bin",
          "sha256sum ~/out/big.bin | cut -d' ' -f1",
        ].join("\n"),
        timeoutSeconds: 120,
      },
    });
    expect(setup.status, setup.text).toBe(200);
    bigSha = (setup.body as { stdout: string }).stdout.trim();
    expect(bigSha).toMatch(/^[0-9a-f]{64}$/);
    await killSandboxRuntime(stack, failed);
    await waitFor(
      async () =>
        ((await stack.call("GET", `/v1/sandboxes/${failed}`, { key })).body as { state: string })
          .state === "error",
      180_000,
      `sandbox ${failed} to read error after its runtime was killed`,
    );
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      WRENN_API_URL: stack.url,
      WRENN_API_KEY: key,
      WRENN_FAILED_ID: failed,
      WRENN_RUNNING_ID: running,
    };
  }, 600_000);
  afterAll(async () => {
    await stack?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const expected = () => ({
    file: "from a failed sandbox\n",
    homeRelative: "from a failed sandbox\n",
    streamed: { size: 8388608, sha256: bigSha },
    archiveNames: ["out/a.txt", "out/big.bin", "out/sub/b.txt"],
    archiveFile: "from a failed sandbox\n",
    missing: { error: "FileNotFound", code: "file_not_found", retryable: false },
    busy: { error: "Conflict", code: "files_read_busy", retryable: true },
    afterBusy: "from a failed sandbox\n",
    runningArchive: { error: "SandboxNotRunning", code: "sandbox_not_running", retryable: false },
    unknownSandbox: { error: "SandboxNotFound", code: "sandbox_not_found", retryable: false },
  });

  test("Python: WrennClient().sandboxes.read_file / archive, sync and asyncio", {
    timeout: 900_000,
  }, async () => {
    python = await installPythonSdk(scratch);
    const { stdout } = await run(python, [join(repoRoot, "tests/sdk-scenario/failed_files.py")], {
      cwd: scratch,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    const { async: viaAsyncio, ...report } = JSON.parse(stdout);
    expect(report).toEqual(expected());
    expect(viaAsyncio).toEqual({
      file: "from a failed sandbox\n",
      archiveNames: ["out/a.txt", "out/big.bin", "out/sub/b.txt"],
      archiveNonEmpty: true,
    });
  });

  test("Go: Client.Sandboxes.ReadFile / Archive", { timeout: 900_000 }, async () => {
    const goEnv = { ...process.env, GOPROXY: "off", GOFLAGS: "-mod=mod" };
    const binary = join(scratch, "go-failed-files");
    await run("go", ["build", "-o", binary, "./failedfiles"], {
      cwd: join(repoRoot, "tests/sdk-scenario/go"),
      env: goEnv,
    });
    const { stdout } = await run(binary, [], { cwd: scratch, env, maxBuffer: 64 * 1024 * 1024 });
    expect(JSON.parse(stdout)).toEqual(expected());
  });

  // Each README's example for a failed sandbox, as written, on this one.
  test("the Python README's failed-sandbox example runs as written", {
    timeout: 600_000,
  }, async () => {
    python ??= await installPythonSdk(scratch);
    const file = join(scratch, "rescue.py");
    await writeFile(file, await readmeBlock("sdks/python/README.md", "python failed-sandbox"));
    const { stdout } = await run(python, [file, failedId], { cwd: scratch, env });
    expect(stdout).toBe("from a failed sandbox\n['out/a.txt', 'out/big.bin', 'out/sub/b.txt']\n");
  });

  test("the Go README's failed-sandbox example runs as written", {
    timeout: 600_000,
  }, async () => {
    const goEnv = { ...process.env, GOPROXY: "off", GOFLAGS: "-mod=mod" };
    const app = join(scratch, "go-rescue");
    await mkdir(app);
    await run("go", ["mod", "init", "example"], { cwd: app, env: goEnv });
    const install = (await readmeBlock("sdks/go/README.md", "sh")).trim();
    const [go, ...args] = install.replaceAll("/path/to/wrenn", repoRoot).split(/\s+/);
    await run(go as string, args, { cwd: app, env: goEnv });
    await writeFile(
      join(app, "main.go"),
      await readmeBlock("sdks/go/README.md", "go failed-sandbox"),
    );
    const { stdout } = await run("go", ["run", ".", failedId], {
      cwd: app,
      env: { ...goEnv, ...env },
    });
    expect(stdout).toBe("from a failed sandbox\n[out/a.txt out/big.bin out/sub/b.txt]\n");
  });
});
