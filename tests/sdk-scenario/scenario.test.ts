import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Sandbox } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { repoRoot } from "../harness/paths.js";
import { installPythonSdk } from "./python-venv.js";
import scenario from "./scenario.json" with { type: "json" };
import { streamCutter } from "./stream-cutter.js";
import { runScenario } from "./ts-runner.js";

// One behaviour, every SDK: the steps and expected outputs of scenario.json, run by each SDK
// against one real stack. A difference between SDKs is a failing test here.
const run = promisify(execFile);
const bin = (name: string) => join(repoRoot, "node_modules/.bin", name);
const expected = Object.fromEntries(scenario.steps.map((s) => [s.id, s.expect]));
// What reconnect_check.py and the Go runner's reconnect mode print: 30 lines, once each.
const lines = Array.from({ length: 30 }, (_, i) => `line${i + 1}\n`).join("");
const reconnectExpected = { stdout: lines, seen: lines, reconnects: 1, lostBytes: 0 };

describe("the SDK scenario (real stack)", () => {
  let stack: Stack;
  let conn: { apiKey: string; apiUrl: string };
  let foreignId: string;
  let scratch: string;
  let python: string | undefined;
  let goBinary: string | undefined;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "wrenn-sdk-scenario-"));
    stack = await Stack.start({ poolSize: 1 });
    conn = { apiKey: (await stack.key({ name: "scenario" })).key, apiUrl: stack.url };
    // Another owner's sandbox, which the scenario's key must not see.
    const other = { apiKey: (await stack.key({ name: "someone-else" })).key, apiUrl: stack.url };
    foreignId = (await Sandbox.create({ ...other, timeoutMs: 1_800_000 })).sandboxId;
  });
  afterAll(async () => {
    await stack?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  // Each pass takes minutes on a loaded machine (seen: Python 108 s alone, past 300 s beside a
  // bench): slow is not broken, so every pass has the same generous bound.
  test("TypeScript (@wrenn/sdk)", { timeout: 900_000 }, async () => {
    const report = await runScenario(conn, foreignId);
    expect(report).toEqual(expected);
  });

  // The same runner under Bun and Deno (packages/sdk's devDependencies, from the npm registry):
  // their fetch, streams and timers are their own, so each gets a pass on this stack of the
  // steps those carry (requests, streams, uploads, timers). The others (pause, snapshots,
  // workspaces, network) are the same TypeScript making the same calls as under Node: they
  // are left to the Node pass, which saves each runtime about half its minute.
  const runtimeSteps = scenario.steps
    .map((s) => s.id)
    .filter((id) => !["pauseResume", "snapshots", "workspaces", "network"].includes(id));
  const runtimeExpected = Object.fromEntries(runtimeSteps.map((id) => [id, expected[id]]));
  const runtimes: [string, string[]][] = [
    ["Bun", [bin("bun"), "run"]],
    // Deno resolves only the import specifiers written, and the tests import `./x.js` for x.ts.
    [
      "Deno",
      [
        bin("deno"),
        "run",
        "--unstable-sloppy-imports",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
      ],
    ],
  ];
  for (const [name, [command, ...args]] of runtimes) {
    // Past the bound the runner is killed, and its progress lines (stderr) say which step hung.
    test(`TypeScript (@wrenn/sdk) under ${name}`, { timeout: 900_000 }, async () => {
      const { stdout } = await run(command as string, [...args, "ts-main.ts"], {
        timeout: 840_000,
        cwd: join(repoRoot, "tests/sdk-scenario"),
        env: {
          PATH: process.env.PATH ?? "",
          // Where Deno and Bun keep their caches.
          HOME: process.env.HOME ?? "",
          WRENN_API_URL: conn.apiUrl,
          WRENN_API_KEY: conn.apiKey,
          WRENN_SCENARIO_FOREIGN_ID: foreignId,
          WRENN_SCENARIO_STEPS: runtimeSteps.join(","),
          NO_COLOR: "1",
        },
        maxBuffer: 64 * 1024 * 1024,
      });
      const lines = stdout.trim().split("\n");
      expect(JSON.parse(lines[lines.length - 1] ?? "{}")).toEqual(runtimeExpected);
    });
  }

  test("Python (wrenn, installed with pip into a venv, offline)", {
    timeout: 900_000,
  }, async () => {
    python = await installPythonSdk(scratch);
    const { stdout } = await run(python, [join(repoRoot, "tests/sdk-scenario/run.py")], {
      // Not the checkout: the installed package is the one under test.
      cwd: scratch,
      env: {
        PATH: process.env.PATH ?? "",
        WRENN_API_URL: conn.apiUrl,
        WRENN_API_KEY: conn.apiKey,
        WRENN_SCENARIO_FOREIGN_ID: foreignId,
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    const lines = stdout.trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1] ?? "{}");
    expect(report).toEqual(expected);
  });

  test("Python: a dropped output stream reconnects to the running process; nothing is lost or repeated", async () => {
    python ??= await installPythonSdk(scratch);
    const cutter = await streamCutter(conn.apiUrl);
    try {
      const { stdout } = await run(
        python,
        [join(repoRoot, "tests/sdk-scenario/reconnect_check.py")],
        {
          cwd: scratch,
          env: {
            PATH: process.env.PATH ?? "",
            WRENN_API_URL: cutter.url,
            WRENN_API_KEY: conn.apiKey,
          },
        },
      );
      expect(cutter.cuts()).toBe(1);
      expect(JSON.parse(stdout)).toEqual(reconnectExpected);
    } finally {
      await cutter.close();
    }
  });

  test("Go (github.com/wrenn/wrenn/sdks/go, built with Debian's go, no module proxy)", {
    timeout: 900_000,
  }, async () => {
    const binary = join(scratch, "go-scenario");
    const goEnv = {
      ...process.env,
      GOPROXY: "off",
      GOFLAGS: "-mod=mod",
    };
    // gofmt'd and vetted, like any Go a user would take.
    const fmt = await run("gofmt", [
      "-l",
      join(repoRoot, "sdks/go"),
      join(repoRoot, "tests/sdk-scenario/go"),
    ]);
    expect(fmt.stdout).toBe("");
    await run("go", ["vet", "./..."], { cwd: join(repoRoot, "sdks/go"), env: goEnv });
    await run("go", ["build", "-o", binary, "."], {
      cwd: join(repoRoot, "tests/sdk-scenario/go"),
      env: goEnv,
    });
    const { stdout } = await run(binary, [], {
      cwd: scratch,
      env: {
        PATH: process.env.PATH ?? "",
        WRENN_API_URL: conn.apiUrl,
        WRENN_API_KEY: conn.apiKey,
        WRENN_SCENARIO_FOREIGN_ID: foreignId,
        WRENN_SCENARIO_JSON: join(repoRoot, "tests/sdk-scenario/scenario.json"),
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(JSON.parse(stdout)).toEqual(expected);
    goBinary = binary;
  });

  test("Go: a dropped output stream reconnects to the running process; nothing is lost or repeated", async () => {
    expect(goBinary, "the Go scenario binary (built by the test above)").toBeDefined();
    const cutter = await streamCutter(conn.apiUrl);
    try {
      const { stdout } = await run(goBinary as string, [], {
        cwd: scratch,
        env: {
          PATH: process.env.PATH ?? "",
          WRENN_API_URL: cutter.url,
          WRENN_API_KEY: conn.apiKey,
          WRENN_SCENARIO_RECONNECT: "1",
        },
      });
      expect(cutter.cuts()).toBe(1);
      expect(JSON.parse(stdout)).toEqual(reconnectExpected);
    } finally {
      await cutter.close();
    }
  });
});
