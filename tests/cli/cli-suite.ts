// What sandbox-commands.test.ts shares with the cases it runs from sandbox-io-cases.ts and
// sandbox-observe-cases.ts: one stack for the whole file, read when each case runs (the cases
// are split by topic; the stack is not).
import type { Stack, UserKey } from "../e2e-stack/stack.js";

export interface CliSuite {
  readonly stack: Stack;
  readonly user: UserKey;
  /** The user's environment for `wrenn`; adminEnv carries the admin key instead. */
  readonly env: Record<string, string>;
  readonly adminEnv: Record<string, string>;
  /** A scratch directory on this machine. */
  readonly work: string;
  /** The sandbox the first case created, which later cases use. */
  readonly id: string;
}
