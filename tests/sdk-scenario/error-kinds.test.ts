import { execFile } from "node:child_process";
import { join } from "node:path";
import { ERROR_CODES } from "@wrenn/contract";
import { describe, expect, test } from "vitest";
import { errorFromBody } from "../../packages/sdk/src/error-mapping.js";
import { repoRoot } from "../harness/paths.js";
import { kind } from "./ts-runner.js";

// Every error code of the contract, and the foreign shapes an SDK meets (E2B's {code:int}
// bodies from envd's /files and the proxy, a Connect error, a code from a newer server, a
// body that is not JSON), turned into errors by the TypeScript, Python and Go SDKs: the same
// class (kind), code and retryability in each, so a difference between the SDKs fails here.
const cases: { status: number; body: string; retryAfter?: string }[] = [
  ...Object.entries(ERROR_CODES).map(([code, spec]) => ({
    status: spec.status,
    body: JSON.stringify({ error: { code, message: `${code} happened` } }),
  })),
  { status: 429, body: '{"error":{"code":"pool_exhausted","message":"m"}}', retryAfter: "7" },
  { status: 404, body: '{"code":404,"message":"path not found"}' },
  { status: 507, body: '{"code":507,"message":"disk full"}' },
  { status: 502, body: '{"code":502,"message":"The sandbox was not found"}' },
  { status: 404, body: '{"code":"not_found","message":"no such process"}' },
  { status: 418, body: '{"error":{"code":"from_a_newer_server","message":"m"}}' },
  { status: 503, body: '{"error":{"code":"from_a_newer_server","message":"m"}}' },
  { status: 500, body: "<html>oops</html>" },
  { status: 400, body: "" },
];

/** Runs a program with `input` on its stdin; resolves with its stdout. */
function withInput(
  file: string,
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv },
  input: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, o, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

describe("error kinds: one mapping in every SDK", () => {
  test("TypeScript, Python and Go make the same error of every answer", async () => {
    const ts = cases.map((c) => {
      const error = errorFromBody(c.status, c.body, c.retryAfter);
      return { kind: kind(error), code: error.code, retryable: error.retryable };
    });
    const input = JSON.stringify(cases);
    const py = await withInput(
      "python3",
      [join(repoRoot, "tests/sdk-scenario/error_kinds.py")],
      { env: { ...process.env, PYTHONPATH: join(repoRoot, "sdks/python") } },
      input,
    );
    expect(JSON.parse(py)).toEqual(ts);
    const go = await withInput(
      "go",
      ["run", "./errorkinds"],
      {
        cwd: join(repoRoot, "tests/sdk-scenario/go"),
        env: { ...process.env, GOPROXY: "off", GOFLAGS: "-mod=mod" },
      },
      input,
    );
    expect(JSON.parse(go)).toEqual(ts);
    // Not vacuous: the codes land in different classes.
    expect(new Set(ts.map((t) => t.kind)).size).toBeGreaterThan(8);
  });
});
