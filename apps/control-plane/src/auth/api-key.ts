import { createHash, randomBytes, randomInt } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const RANDOM_LENGTH = 32;

export const API_KEY_PATTERN = /^wrn_[A-Za-z0-9]{32}$/;

/**
 * The key kinds Wrenn issues. `e2b` keys look like E2B's own (`e2b_` + 40 hex), because E2B SDK
 * releases 2.30 to 2.45 refuse, before any request, a key that fails `^e2b_[0-9a-f]+$`. Both
 * kinds are stored, scoped and revoked the same way: only the hash of the key is kept.
 */
export const API_KEY_FORMATS = ["wrenn", "e2b"] as const;
export type ApiKeyFormat = (typeof API_KEY_FORMATS)[number];

/** What E2B's SDK checks (2.30–2.45, `validateApiKey`), plus the length Wrenn issues. */
export const E2B_API_KEY_PATTERN = /^e2b_[0-9a-f]{40}$/;

/**
 * `wrn_` + 32 characters from a 62-letter alphabet (about 190 bits), or for the `e2b` format
 * `e2b_` + 40 hex digits (160 bits).
 */
export function generateApiKey(format: ApiKeyFormat = "wrenn"): string {
  if (format === "e2b") return `e2b_${randomBytes(20).toString("hex")}`;
  let key = "wrn_";
  for (let i = 0; i < RANDOM_LENGTH; i++) key += ALPHABET[randomInt(ALPHABET.length)];
  return key;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * What a presented key may look like before it is even hashed. Operator-chosen keys
 * (WRENN_API_KEY) need not follow the wrn_ format, so this only bounds size and charset.
 */
export const PRESENTED_KEY_PATTERN = /^[\x21-\x7e]{16,256}$/;
