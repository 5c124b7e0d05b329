import { checkText as checkContractText, LONE_SURROGATE } from "@wrenn/contract";
import { ServiceError, validated } from "./errors.js";

// The text rules (NUL, lone surrogates) are the contract's (checkText, textProblem); this file
// adds the HTTP edge's charset rule and the audit log's storable form.

/** `value` itself, or a 400 naming `what`: the contract's rule, raised as a ServiceError. */
export function checkText(what: string, value: string): string {
  return validated(() => checkContractText(what, value));
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
