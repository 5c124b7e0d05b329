import { createHash, randomInt } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const RANDOM_LENGTH = 32;

export const API_KEY_PATTERN = /^wrn_[A-Za-z0-9]{32}$/;

/** `wrn_` + 32 characters from a 62-letter alphabet: about 190 bits. */
export function generateApiKey(): string {
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
