import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { lockDataDir } from "./data-dir-lock.js";

const temps: string[] = [];
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-lock-"));
  temps.push(dir);
  return dir;
}

test("a second lock on the same directory fails while the first is held", async () => {
  const dir = await tempDir();
  const lock = await lockDataDir(dir);
  await expect(lockDataDir(dir)).rejects.toThrow(/in use by process/);
  await lock.release();
  const again = await lockDataDir(dir);
  await again.release();
});

test("a lock left by a process that died is taken over", async () => {
  const dir = await tempDir();
  const child = spawn(process.execPath, ["-e", "process.exit(0)"]);
  const pid = child.pid!;
  await new Promise((resolve) => child.on("exit", resolve));
  await writeFile(join(dir, "wrenn-cp.lock"), `${pid}\n`);
  const lock = await lockDataDir(dir);
  expect((await readFile(join(dir, "wrenn-cp.lock"), "utf8")).trim()).toBe(String(process.pid));
  await lock.release();
});
