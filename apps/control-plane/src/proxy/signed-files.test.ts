import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { signedRequestOf, signedWith, signFiles } from "./signed-files.js";

describe("signed /files URLs", () => {
  // The E2B SDK's formula, written out independently.
  const sdk = (raw: string) =>
    `v1_${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`;

  test("the signature is E2B's, with and without an expiry and a user", () => {
    expect(signFiles({ path: "/a b", operation: "read", username: "" }, "tok")).toBe(
      sdk("/a b:read::tok"),
    );
    expect(
      signFiles(
        { path: "x", operation: "write", username: "root", expiration: "1700000000" },
        "tok",
      ),
    ).toBe(sdk("x:write:root:tok:1700000000"));
  });

  test("a request matches only the token, path, operation and user it was signed for", () => {
    const signature = sdk("/home/user/f:read:user:secret-token:123");
    const url = `/files?path=%2Fhome%2Fuser%2Ff&username=user&signature=${encodeURIComponent(signature)}&signature_expiration=123`;
    const get = signedRequestOf("GET", url)!;
    expect(get).toEqual({
      path: "/home/user/f",
      operation: "read",
      username: "user",
      expiration: "123",
      signature,
    });
    expect(signedWith(get, "secret-token")).toBe(true);
    expect(signedWith(get, "another-token")).toBe(false);
    expect(signedWith(signedRequestOf("POST", url)!, "secret-token")).toBe(false);
    expect(
      signedWith(
        signedRequestOf("GET", url.replace("username=user", "username=root"))!,
        "secret-token",
      ),
    ).toBe(false);
    expect(signedRequestOf("DELETE", url)).toBeNull();
    expect(signedRequestOf("GET", "/files?path=x")).toBeNull();
  });
});
