import { join } from "node:path";
import { localDataDir } from "../config/config-paths.js";

/** Where `wrenn up --detach` keeps its pid and output, inside the stack's data dir. */
export function detachedFiles(env: NodeJS.ProcessEnv = process.env) {
  const dataDir = localDataDir(env);
  return {
    dataDir,
    pidFile: join(dataDir, "wrenn-up.pid"),
    logFile: join(dataDir, "logs", "wrenn-up.log"),
  };
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
