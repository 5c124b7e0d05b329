import { expect, test } from "vitest";
import {
  checkSecretMetadata,
  checkSecretName,
  checkSecretValue,
  isSecretId,
  placeholderNames,
  SECRET_LIMITS,
  secretPlaceholder,
} from "./secrets.js";

test("names are lower-cased, bounded, and never look like ids", () => {
  expect(checkSecretName("OpenAI_Key-2")).toBe("openai_key-2");
  expect(checkSecretName("n".repeat(SECRET_LIMITS.nameLength))).toHaveLength(128);
  for (const bad of ["", "n".repeat(129), "a b", "a.b", "ä", "sec_x", "SEC_X", 5, null]) {
    expect(() => checkSecretName(bad), String(bad)).toThrow();
  }
  expect(isSecretId("sec_0123456789abcdef")).toBe(true);
  expect(isSecretId("sec_0123456789ABCDEF")).toBe(false);
});

test("values: bytes counted in UTF-8, tab allowed, other control characters refused", () => {
  expect(checkSecretValue("a\tb")).toBe("a\tb");
  expect(checkSecretValue("€".repeat(21845))).toHaveLength(21845); // 65535 bytes
  expect(() => checkSecretValue("€".repeat(21846))).toThrow(/65536 bytes/);
  for (const bad of ["", "a\nb", "a\rb", "a\u007fb", "a\u0000b", "\ud800"]) {
    expect(() => checkSecretValue(bad), JSON.stringify(bad)).toThrow();
  }
  // The refusal never quotes the value.
  expect(() => checkSecretValue("hunter2\n")).toThrow(/^(?!.*hunter2)/);
});

test("metadata limits count bytes, and all entries together", () => {
  expect(checkSecretMetadata(undefined)).toEqual({});
  expect(checkSecretMetadata({ ü: "é" })).toEqual({ ü: "é" });
  expect(() => checkSecretMetadata({ ["ü".repeat(65)]: "v" })).toThrow(/1 to 128 bytes/);
  expect(() => checkSecretMetadata({ "": "v" })).toThrow();
  expect(() => checkSecretMetadata({ k: 1 })).toThrow();
  expect(() => checkSecretMetadata("k=v")).toThrow();
});

test("placeholders: E2B's Secret.fill format, names found in any case", () => {
  expect(secretPlaceholder("openai-key")).toBe("$" + "{e2b.secrets.openai-key}");
  expect(() => secretPlaceholder("a}b")).toThrow(/not a secret name/);
  const text = `Bearer ${secretPlaceholder("A")} ${secretPlaceholder("b")} ${secretPlaceholder("a")}`;
  expect(placeholderNames(text)).toEqual(["a", "b"]);
  expect(placeholderNames("$" + "{e2b.identity.tokens.x}")).toEqual([]);
  expect(() => placeholderNames("$" + "{e2b.secrets.}")).toThrow();
});
