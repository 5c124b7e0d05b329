/**
 * <dataDir>/stack.json while a local stack (`npm start`, `wrenn up`) runs: how the CLI finds
 * the stack the user started (its address may not be the default one) instead of whatever
 * answers on port 3000. Written by @wrenn/local-stack, read by the CLI; the pid says whether it
 * is current.
 */
export const STACK_STATE_FILE = "stack.json";

export interface StackState {
  url: string;
  pid: number;
  /** Where the admin key is kept (absent when it came from WRENN_API_KEY). */
  keyFile?: string;
}

/** The file's text as a StackState; undefined when it is not one (torn, foreign, old). */
export function parseStackState(text: string): StackState | undefined {
  let s: { url?: unknown; pid?: unknown; keyFile?: unknown };
  try {
    s = JSON.parse(text) as typeof s;
  } catch {
    return undefined;
  }
  if (typeof s?.url !== "string" || typeof s.pid !== "number") return undefined;
  return {
    url: s.url,
    pid: s.pid,
    ...(typeof s.keyFile === "string" ? { keyFile: s.keyFile } : {}),
  };
}
