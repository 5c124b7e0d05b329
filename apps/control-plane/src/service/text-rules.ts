import { invalidRequest, ServiceError } from "./errors.js";

// What text from a client may be: the rules every value that is stored, filtered on or passed
// into a sandbox goes through, whichever API it came in by (/v1, E2B's routes, the admin UI).
// PostgreSQL refuses NUL in text and JSON and cannot encode a lone UTF-16 surrogate as UTF-8;
// a process environment cannot hold NUL at all. Refused here, up front, as a 400: never a 500
// from the database halfway through (after an audit event was meant to be written) or a 502
// from envd after a sandbox was booted for it.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` is not acceptable text, or undefined when it is. */
export function textProblem(value: string): string | undefined {
  if (value.includes("\0")) return "contains a NUL character";
  if (LONE_SURROGATE.test(value)) return "is not valid Unicode (it has a lone surrogate)";
  return undefined;
}

/** `value` itself, or a 400 naming `what` (a field name, or a key's description). */
export function checkText(what: string, value: string): string {
  const problem = textProblem(value);
  if (problem) throw invalidRequest(`${what} ${problem}`);
  return value;
}

/** A JSON body must be UTF-8 (RFC 8259 §8.1): a declared charset other than that is refused. */
export function checkJsonCharset(contentType: string | undefined): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? "")?.[1];
  if (charset === undefined || /^utf-?8$/i.test(charset)) return;
  throw new UnsupportedCharsetError(charset);
}

export class UnsupportedCharsetError extends ServiceError {
  constructor(charset: string) {
    super(
      415,
      "unsupported_media_type",
      `JSON bodies must be UTF-8, got charset=${JSON.stringify(charset.slice(0, 40))}`,
    );
  }
}

/**
 * For records of what someone tried (the audit log): the same text made storable, NUL and lone
 * surrogates replaced by U+FFFD, in strings at any depth. The attempt is recorded, not lost.
 */
export function storable<T>(value: T): T {
  if (typeof value === "string") {
    return value.replace(/\0/g, "\ufffd").replace(new RegExp(LONE_SURROGATE, "g"), "\ufffd") as T;
  }
  if (Array.isArray(value)) return value.map((item) => storable(item)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [storable(k), storable(v)]),
    ) as T;
  }
  return value;
}
