import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { html, trustedHtml } from "../html/html.js";
import { LoggedOutSessions, SessionSigner } from "./session-token.js";

describe("admin session tokens", () => {
  const secret = randomBytes(32);

  it("verifies what it issued, until it expires", () => {
    let now = 1_000_000;
    const signer = new SessionSigner(secret, () => now);
    const { token, claims } = signer.issue("key-0123abcd", 60_000);
    expect(signer.verify(token)).toEqual(claims);
    now += 60_000;
    expect(signer.verify(token)).toBeNull();
  });

  it("refuses tokens that were altered or signed with another secret", () => {
    const signer = new SessionSigner(secret);
    const { token } = signer.issue("key-0123abcd", 60_000);
    const [v, payload, mac] = token.split(".") as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(payload, "base64url").toString()),
        keyId: "key-ffffffff",
      }),
    ).toString("base64url");
    expect(signer.verify(`${v}.${forged}.${mac}`)).toBeNull();
    expect(new SessionSigner(randomBytes(32)).verify(token)).toBeNull();
    for (const bad of [undefined, "", "v1.x", `${token}.x`, "x".repeat(600)]) {
      expect(signer.verify(bad)).toBeNull();
    }
  });

  it("derives CSRF and login tokens that only match their own session or nonce", () => {
    const signer = new SessionSigner(secret);
    const a = signer.issue("key-0123abcd", 60_000).claims;
    const b = signer.issue("key-0123abcd", 60_000).claims;
    expect(signer.checkCsrf(a.sid, signer.csrfToken(a.sid))).toBe(true);
    expect(signer.checkCsrf(a.sid, signer.csrfToken(b.sid))).toBe(false);
    expect(signer.checkCsrf(a.sid, undefined)).toBe(false);
    const { nonce, token } = signer.loginNonce();
    expect(signer.checkLogin(nonce, token)).toBe(true);
    expect(signer.checkLogin(signer.loginNonce().nonce, token)).toBe(false);
    expect(signer.checkLogin(undefined, token)).toBe(false);
  });

  it("remembers logged-out sessions until they would have expired", () => {
    let now = 0;
    const ended = new LoggedOutSessions(2, () => now);
    ended.add({ sid: "a", keyId: "k", issuedAt: 0, expiresAt: 10 });
    expect(ended.has("a")).toBe(true);
    now = 20;
    ended.add({ sid: "b", keyId: "k", issuedAt: 0, expiresAt: 30 });
    expect(ended.has("a")).toBe(false);
    expect(ended.has("b")).toBe(true);
  });
});

describe("html templates", () => {
  it("escape every interpolation that is not already markup", () => {
    const name = `<img src=x onerror="alert(1)">'&\``;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;&#96;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;&#96;</p>',
    );
    expect(html`<ul>${["<a>", trustedHtml("<b>")]}${null}${false}${3}</ul>`.value).toBe(
      "<ul>&lt;a&gt;<b>3</ul>",
    );
  });
});
