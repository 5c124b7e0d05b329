import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Cross-process lock for building one template: `npm start` and a test run may both want the
 * base template at once. mkdir(2) is atomic; a holder that died (kill -9) is detected through
 * its pid and the lock is taken over.
 */
export async function withBuildLock<T>(
  dir: string,
  onWait: () => void,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = path.join(dir, ".lock");
  await mkdir(dir, { recursive: true });
  let waited = false;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (!(await holderAlive(lock))) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!waited) onWait();
      waited = true;
      await sleep(500);
    }
  }
  try {
    await writeFile(path.join(lock, "pid"), String(process.pid));
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function holderAlive(lock: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(path.join(lock, "pid"), "utf8"));
  } catch {
    // The holder may be between mkdir and writing its pid; only a lock left that way for a
    // while counts as abandoned.
    await sleep(1000);
    try {
      pid = Number(await readFile(path.join(lock, "pid"), "utf8"));
    } catch {
      return false;
    }
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
