// What v1-api.test.ts shares with the cases it runs from v1-files-cases.ts and
// v1-bad-input-cases.ts: one stack for the whole file, read when each case runs.
import type { Stack, UserKey } from "./stack.js";

export interface V1Suite {
  readonly stack: Stack;
  /** Owns `id`; bob is another owner. */
  readonly alice: UserKey;
  readonly bob: UserKey;
  readonly id: string;
  /** POST /v1/sandboxes/{sandbox}/exec with a key (alice's and `id` by default). */
  exec(body: unknown, key?: string, sandbox?: string): ReturnType<Stack["call"]>;
  /** The ws:// URL of an API path. */
  wsUrl(path: string): string;
}
