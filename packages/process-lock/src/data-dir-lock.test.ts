import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { lockDataDir } from "./data-dir-lock.js";
import { isLockHeld, readLockHolder, tryLockFile, withFileLock } from "./file-lock.js";

const temps: string[] = [];
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-lock-"));
  temps.push(dir);
  return dir;
}

const options = { file: "x.lock", program: "test program", holder: { listen: "127.0.0.1:1" } };

test("a second lock on the same directory fails, naming the holder, while the first is held", async () => {
  const dir = await tempDir();
  const lock = await lockDataDir(dir, options);
  await expect(lockDataDir(dir, options)).rejects.toThrow(
    new RegExp(`in use by process ${process.pid} \\(listen 127\\.0\\.0\\.1:1, dataDir ${dir}\\)`),
  );
  lock.release();
  expect(existsSync(join(dir, "x.lock"))).toBe(false);
  const again = await lockDataDir(dir, options);
  again.release();
});

test("a lock file left by a process that died is taken over", async () => {
  const dir = await tempDir();
  const child = spawn(process.execPath, ["-e", "process.exit(0)"]);
  const pid = child.pid!;
  await new Promise((resolve) => child.on("exit", resolve));
  await writeFile(join(dir, "x.lock"), `${JSON.stringify({ pid })}\n`);
  const lock = await lockDataDir(dir, options);
  expect(readLockHolder(join(dir, "x.lock"))?.pid).toBe(process.pid);
  lock.release();
});

test("the lock is held by another live process until it dies, then it is free", async () => {
  const dir = await tempDir();
  const path = join(dir, "held.lock");
  // flock(1) holding the file as another process would (-o: only flock itself holds it).
  const holder = spawn("flock", ["-x", "-o", path, "-c", "echo locked; exec sleep 30"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    await new Promise((r) => holder.stdout.once("data", r));
    expect(await isLockHeld(path)).toBe(true);
    expect(await tryLockFile(path)).toBeNull();
  } finally {
    const exited = new Promise((r) => holder.on("exit", r));
    holder.kill("SIGKILL");
    await exited;
  }
  const lock = await tryLockFile(path, { what: "test" });
  expect(lock).not.toBeNull();
  expect(readLockHolder(path)).toEqual({ what: "test", pid: process.pid });
  lock?.release();
});

test("withFileLock runs critical sections one at a time", async () => {
  const dir = await tempDir();
  const path = join(dir, "section.lock");
  const order: string[] = [];
  const section = (name: string) =>
    withFileLock(path, 10, async () => {
      order.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name} out`);
    });
  await Promise.all([section("a"), section("b")]);
  expect(order).toHaveLength(4);
  expect(order[0]!.slice(0, 1)).toBe(order[1]!.slice(0, 1));
  expect(await readFile(path, "utf8")).toBe("");
});
