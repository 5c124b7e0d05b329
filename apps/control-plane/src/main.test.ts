import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, test } from "vitest";
import { seedBlankPglite } from "./testing/blank-pglite.js";

// Runs the real entry point as its own process: the build's (`npm run build` first, as for
// every test here), since transpiling the whole control plane at each start (tsx) cost 10-30 s
// of a loaded machine per start.
const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function start(
  dataDir: string,
  expectKey: boolean,
): { child: ChildProcess; output: () => string; ready: Promise<string> } {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      WRENN_LISTEN: "127.0.0.1:0",
      WRENN_DATA_DIR: dataDir,
      WRENN_AGENT_URL: "http://127.0.0.1:9",
      WRENN_LOG_LEVEL: "warn",
      WRENN_API_KEY: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const match = /Wrenn control plane: (http:\/\/\S+)\n/.exec(out);
      if (match && (!expectKey || /export E2B_API_KEY=.*\n/.test(out))) resolve(match[1]!);
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
  return { child, output: () => out, ready };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

test("wrenn-cp prints its URL and a first admin key once, and stops cleanly on signals", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "wrenn-main-"));
  dirs.push(dataDir);
  // The empty database a first start makes (an initdb in WebAssembly, seconds): copied.
  await seedBlankPglite(dataDir);
  const first = start(dataDir, true);
  const url = await first.ready;
  const key = /Admin API key \(shown only now, store it\): (wrn_\S+)/.exec(first.output())?.[1];
  expect(key).toMatch(/^wrn_[A-Za-z0-9]{32}$/);
  const me = await fetch(`${url}/v1/api-keys/current`, { headers: { "x-api-key": key! } });
  expect(me.status).toBe(200);
  // The key appears exactly once in everything the process wrote (the banner line + export hint).
  expect(first.output().split(key!).length - 1).toBe(2);
  const firstExit = exited(first.child);
  first.child.kill("SIGTERM");
  expect(await firstExit).toBe(0);

  const second = start(dataDir, false);
  const url2 = await second.ready;
  expect(second.output()).not.toContain("Admin API key");
  const again = await fetch(`${url2}/v1/api-keys/current`, { headers: { "x-api-key": key! } });
  expect(again.status).toBe(200);
  const secondExit = exited(second.child);
  second.child.kill("SIGINT");
  expect(await secondExit).toBe(0);
});

test("a bad setting stops it with a clear message", async () => {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, WRENN_LISTEN: "nonsense" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  expect(await exited(child)).toBe(2);
  expect(err).toContain("WRENN_LISTEN");
});
