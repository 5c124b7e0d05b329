import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { AccessToken } from "./access-token.js";
import { basicAuthUsername } from "./identity.js";
import { checkFilesAccess, signFilesUrl } from "./signature.js";

describe("files URL signatures", () => {
  test("matches E2B's formula", () => {
    const raw = "/home/user/a.txt:read:user:tok:1700000000";
    const expected = `v1_${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`;
    expect(signFilesUrl("tok", "/home/user/a.txt", "read", "user", 1700000000)).toBe(expected);
  });

  test("checks header, signature, operation and expiry", () => {
    const token = new AccessToken();
    const base = { headerToken: undefined, expiration: undefined, path: "/a", username: undefined };
    expect(
      checkFilesAccess(token, { ...base, signature: undefined, operation: "read" }),
    ).toBeUndefined();
    token.set("tok");
    expect(checkFilesAccess(token, { ...base, signature: undefined, operation: "read" })).toMatch(
      /missing/,
    );
    const sig = signFilesUrl("tok", "/a", "read", "");
    expect(checkFilesAccess(token, { ...base, signature: sig, operation: "read" })).toBeUndefined();
    expect(checkFilesAccess(token, { ...base, signature: sig, operation: "write" })).toMatch(
      /invalid/,
    );
    expect(
      checkFilesAccess(token, {
        ...base,
        headerToken: "tok",
        signature: undefined,
        operation: "write",
      }),
    ).toBeUndefined();
    expect(
      checkFilesAccess(token, { ...base, headerToken: "bad", signature: sig, operation: "read" }),
    ).toMatch(/does not match/);
    const past = signFilesUrl("tok", "/a", "read", "", 1000);
    expect(
      checkFilesAccess(token, { ...base, signature: past, expiration: "1000", operation: "read" }),
    ).toMatch(/expired/);
  });
});

describe("basic auth username", () => {
  test.each([
    [`Basic ${Buffer.from("user:").toString("base64")}`, "user"],
    [`basic ${Buffer.from("root:pw").toString("base64")}`, "root"],
    ["Bearer x", undefined],
    [undefined, undefined],
  ])("%s", (header, expected) => {
    expect(basicAuthUsername(header)).toBe(expected);
  });
});
