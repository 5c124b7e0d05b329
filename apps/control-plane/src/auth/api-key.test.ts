import { expect, test } from "vitest";
import { API_KEY_PATTERN, generateApiKey, hashApiKey, PRESENTED_KEY_PATTERN } from "./api-key.js";

test("keys are wrn_ and 32 random characters, all different", () => {
  const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
  expect(keys.size).toBe(1000);
  for (const key of keys) expect(key).toMatch(API_KEY_PATTERN);
});

test("the hash is SHA-256 hex and depends on every character", () => {
  const key = generateApiKey();
  expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
  expect(hashApiKey(key)).toBe(hashApiKey(key));
  expect(hashApiKey(key)).not.toBe(hashApiKey(`${key.slice(0, -1)}x`));
});

test("presented keys are bounded before any lookup", () => {
  expect(PRESENTED_KEY_PATTERN.test(generateApiKey())).toBe(true);
  expect(PRESENTED_KEY_PATTERN.test("short")).toBe(false);
  expect(PRESENTED_KEY_PATTERN.test(`${"a".repeat(20)} b`)).toBe(false);
  expect(PRESENTED_KEY_PATTERN.test("a".repeat(257))).toBe(false);
});
