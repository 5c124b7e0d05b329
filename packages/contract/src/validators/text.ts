import { invalidInput } from "../errors/error-codes.js";

// What text from a client may be: the rules every value that is stored, filtered on or passed
// into a sandbox goes through, whichever API it came in by (/v1, E2B's routes, the admin UI).
// PostgreSQL refuses NUL in text and JSON and cannot encode a lone UTF-16 surrogate as UTF-8;
// a process environment cannot hold NUL at all. Refused up front as bad input: never a 500
// from the database halfway through or a 502 from envd after a sandbox was booted for it.

export const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` is not acceptable text, or undefined when it is. */
export function textProblem(value: string): string | undefined {
  if (value.includes("\0")) return "contains a NUL character";
  if (LONE_SURROGATE.test(value)) return "is not valid Unicode (it has a lone surrogate)";
  return undefined;
}

/** `value` itself, or an invalid_request naming `what` (a field name, or a key's description). */
export function checkText(what: string, value: string): string {
  const problem = textProblem(value);
  if (problem) throw invalidInput(`${what} ${problem}`);
  return value;
}
