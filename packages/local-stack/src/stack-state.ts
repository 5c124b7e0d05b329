import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STACK_STATE_FILE, type StackState } from "@wrenn/contract";

// <dataDir>/stack.json: its shape and name are the contract's (local-stack-state.ts); the CLI
// reads it in packages/cli/src/config/stack-state-file.ts.

export async function writeStackState(dataDir: string, state: StackState): Promise<void> {
  await writeFile(join(dataDir, STACK_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, {
    mode: 0o644,
  });
}

export async function removeStackState(dataDir: string): Promise<void> {
  await rm(join(dataDir, STACK_STATE_FILE), { force: true });
}
