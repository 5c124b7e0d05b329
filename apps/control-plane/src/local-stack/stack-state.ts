import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * <dataDir>/stack.json while a local stack runs: how the CLI finds the stack the user started
 * (its address may not be the default one) instead of whatever answers on port 3000. The CLI
 * reads it in packages/cli/src/config/stack-state-file.ts; the pid says whether it is current.
 */
export interface StackState {
  url: string;
  pid: number;
  /** Where the admin key is kept (absent when it came from WRENN_API_KEY). */
  keyFile?: string;
}

export const STACK_STATE_FILE = "stack.json";

export async function writeStackState(dataDir: string, state: StackState): Promise<void> {
  await writeFile(join(dataDir, STACK_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, {
    mode: 0o644,
  });
}

export async function removeStackState(dataDir: string): Promise<void> {
  await rm(join(dataDir, STACK_STATE_FILE), { force: true });
}
