import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { alive } from "../local-stack/stack-files.js";
import { localDataDir } from "./config-paths.js";

/**
 * The local stack this CLI belongs to, from the <dataDir>/stack.json its `npm start` or
 * `wrenn up` writes (apps/control-plane/src/local-stack/stack-state.ts): its real address,
 * which may not be port 3000 when that was taken. Undefined when none runs.
 */
export async function runningLocalStack(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; pid: number; keyFile?: string; dataDir: string } | undefined> {
  const dataDir = localDataDir(env);
  let state: unknown;
  try {
    state = JSON.parse(await readFile(join(dataDir, "stack.json"), "utf8"));
  } catch {
    return undefined;
  }
  const s = state as { url?: unknown; pid?: unknown; keyFile?: unknown };
  if (typeof s.url !== "string" || typeof s.pid !== "number" || !alive(s.pid)) return undefined;
  return {
    url: s.url,
    pid: s.pid,
    keyFile: typeof s.keyFile === "string" ? s.keyFile : undefined,
    dataDir,
  };
}
