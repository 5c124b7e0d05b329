import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseStackState, STACK_STATE_FILE } from "@wrenn/contract";
import { alive } from "../local-stack/stack-files.js";
import { localDataDir } from "./config-paths.js";

/**
 * The local stack this CLI belongs to, from the <dataDir>/stack.json its `npm start` or
 * `wrenn up` writes (packages/local-stack/src/stack-state.ts): its real address,
 * which may not be port 3000 when that was taken. Undefined when none runs.
 */
export async function runningLocalStack(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; pid: number; keyFile?: string; dataDir: string } | undefined> {
  const dataDir = localDataDir(env);
  const text = await readFile(join(dataDir, STACK_STATE_FILE), "utf8").catch(() => "");
  const s = parseStackState(text);
  if (!s || !alive(s.pid)) return undefined;
  return {
    url: s.url,
    pid: s.pid,
    keyFile: s.keyFile,
    dataDir,
  };
}
