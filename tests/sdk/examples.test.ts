import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { repoRoot } from "../harness/paths.js";

// Every example of packages/sdk/examples runs against the real stack exactly as a user would
// run it (tsx in Node); two of them also run under Bun and Deno, whose fetch and streams are
// their own. That they type-check is `npm run check`'s (tsc -p packages/sdk/examples), once,
// before the suites start, not beside another lane's sandboxes.
const run = promisify(execFile);
const sdkDir = join(repoRoot, "packages/sdk");
const bin = (name: string) => join(repoRoot, "node_modules/.bin", name);

/** What each example must print. A new example without an entry here fails the test. */
const EXPECTED: Record<string, string[]> = {
  "quickstart.ts": ["hello from Linux", "written by the SDK"],
  "stream-output.ts": [
    "[build] step 1",
    "[build] step 3",
    "exit code 0",
    "exit 4: failing",
    "timed out: sleep 60",
  ],
  "files.ts": ["file a.txt 1", "file b.bin 3", "downloaded 8893 bytes", "event write new.txt"],
  "pause-resume.ts": ["paused: true", "remembered"],
  "terminal.ts": ["terminal size 30 100"],
};

describe("@wrenn/sdk examples (real stack)", () => {
  let stack: Stack;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    const { key } = await stack.key({ name: "examples" });
    env = { ...process.env, WRENN_API_URL: stack.url, WRENN_API_KEY: key, NO_COLOR: "1" };
  });
  afterAll(() => stack?.close());

  test("each example runs in Node and prints what it promises", async () => {
    const files = (await readdir(join(sdkDir, "examples"))).filter((f) => f.endsWith(".ts"));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const file of files) {
      const { stdout } = await run(bin("tsx"), [join("examples", file)], { cwd: sdkDir, env });
      for (const line of EXPECTED[file] ?? []) expect(stdout, file).toContain(line);
    }
  });

  // Commands (a Connect stream) and files (a streamed upload and download) in each runtime.
  for (const file of ["quickstart.ts", "files.ts"]) {
    test(`${file} runs under Bun`, async () => {
      const { stdout } = await run(bin("bun"), ["run", join("examples", file)], {
        cwd: sdkDir,
        env,
      });
      for (const line of EXPECTED[file] ?? []) expect(stdout).toContain(line);
    });

    test(`${file} runs under Deno`, async () => {
      const { stdout } = await run(
        bin("deno"),
        ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", join("examples", file)],
        { cwd: sdkDir, env },
      );
      for (const line of EXPECTED[file] ?? []) expect(stdout).toContain(line);
    });
  }
});
