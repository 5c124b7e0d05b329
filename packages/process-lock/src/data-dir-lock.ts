import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type HeldLock, type LockHolder, readLockHolder, tryLockFile } from "./file-lock.js";

export interface DataDirLockOptions {
  /** The lock file's name inside the directory, e.g. "wrenn-cp.lock". */
  readonly file: string;
  /** Who we are, for the refusal message: "control plane", "host agent". */
  readonly program: string;
  /** Written into the lock so a refused second start can name this one (listen address...). */
  readonly holder?: LockHolder;
  /** Appended to the refusal: what to do instead. */
  readonly hint?: string;
}

function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return "another process (starting up)";
  const { pid, ...rest } = holder;
  const details = Object.entries(rest)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return `process ${pid ?? "?"}${details.length > 0 ? ` (${details.join(", ")})` : ""}`;
}

/**
 * The first program to open a data directory owns it until it exits: two processes on one
 * directory would adopt (and fight over) the same sandboxes or database files. The lock is a
 * flock, so it dies with its process however it dies; a file left by a dead one is taken over.
 */
export async function lockDataDir(dir: string, options: DataDirLockOptions): Promise<HeldLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, options.file);
  const lock = await tryLockFile(path, { ...options.holder, dataDir: dir });
  if (lock) return lock;
  const holder = readLockHolder(path);
  throw new Error(
    `data directory ${dir} is in use by ${describeHolder(holder)}; only one ${options.program} ` +
      `can run per data directory${options.hint ? ` (${options.hint})` : ""}`,
  );
}
