import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

export interface DataDirLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite's files are not safe to share between processes, so the first control plane to open a
 * data directory owns it until it stops. A lock left by a crashed process (pid gone) is taken over.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "wrenn-cp.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(
          `data directory ${dir} is in use by process ${pid}; with the embedded database only one control plane can run per data directory (set DATABASE_URL to share a PostgreSQL between several)`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}
