import { spawn } from "node:child_process";
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/** What a lock file says about the process holding it (written once the lock is taken). */
export interface LockHolder {
  readonly pid?: number;
  readonly [key: string]: unknown;
}

export interface HeldLock {
  readonly path: string;
  /** Removes the file and lets go; the lock also goes when the process dies, however it dies. */
  release(): void;
}

/**
 * flock(2) on `fd`, taken by flock(1): Node has no flock of its own. The child gets the same
 * open file description as its fd 3, and a flock belongs to the open file description, so the
 * lock stays with our fd after flock(1) exits and goes when our process closes it or dies.
 * Resolves true when taken, false when another holder has it (immediately, or after `waitS`).
 */
function flock(fd: number, waitS?: number): Promise<boolean> {
  const wait = waitS === undefined ? ["-n"] : ["-w", String(waitS)];
  return new Promise((resolve, reject) => {
    const child = spawn("flock", ["-x", ...wait, "-E", "75", "3"], {
      stdio: ["ignore", "ignore", "pipe", fd],
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", (e) => reject(new Error(`cannot run flock(1): ${e.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve(true);
      // 75: held by someone else (-n); 1: -w timed out.
      else if (code === 75 || (waitS !== undefined && code === 1)) resolve(false);
      else reject(new Error(`flock(1) failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/**
 * Opens and locks `path`, making sure the lock is on the file that is at `path` now: a holder
 * removes its file when it lets go, and a lock taken on the removed file would guard nothing.
 */
async function lockPath(path: string, waitS?: number): Promise<number | null> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  for (let attempt = 0; attempt < 10; attempt++) {
    // O_NOFOLLOW: these paths may sit in shared directories; never lock through a symlink.
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    let locked = false;
    try {
      locked = await flock(fd, waitS);
      if (!locked) {
        closeSync(fd);
        return null;
      }
      const now = statSync(path, { throwIfNoEntry: false });
      if (now && now.ino === fstatSync(fd).ino && now.dev === fstatSync(fd).dev) return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    // Removed (or replaced) between our open and our lock: try again on the new file.
    closeSync(fd);
  }
  throw new Error(`could not lock ${path}: it keeps being replaced`);
}

/**
 * Takes `path` if no live process holds it and writes `holder` into it (with our pid).
 * Returns null while another process holds it. A file left by a dead process is simply taken.
 */
export async function tryLockFile(path: string, holder: LockHolder = {}): Promise<HeldLock | null> {
  const fd = await lockPath(path);
  if (fd === null) return null;
  const text = `${JSON.stringify({ ...holder, pid: process.pid })}\n`;
  ftruncateSync(fd, 0);
  writeSync(fd, text, 0);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      // Removed while still locked, so nobody can take the old file in between.
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
      closeSync(fd);
    },
  };
}

/** What the holder wrote; null when unreadable (gone, or being written this instant). */
export function readLockHolder(path: string): LockHolder | null {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    return typeof parsed === "object" && parsed !== null ? (parsed as LockHolder) : null;
  } catch {
    return null;
  }
}

/**
 * Whether a live process holds `path`. A file nobody holds is left over from a dead process
 * and is removed.
 */
export async function isLockHeld(path: string): Promise<boolean> {
  const lock = await tryLockFile(path);
  if (lock === null) return true;
  lock.release();
  return false;
}

/**
 * Runs `fn` while holding `path` exclusively, waiting up to `waitS` seconds for it: a critical
 * section between processes (checking claims and registering one, say).
 */
export async function withFileLock<T>(path: string, waitS: number, fn: () => Promise<T>) {
  const fd = await lockPath(path, waitS);
  if (fd === null) throw new Error(`timed out after ${waitS} s waiting for ${path}`);
  try {
    return await fn();
  } finally {
    // Kept, not removed: waiters may already have it open.
    closeSync(fd);
  }
}
