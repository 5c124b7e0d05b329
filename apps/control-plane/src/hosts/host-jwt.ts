import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The JWT a registered host sends with its heartbeats: HS256, signed with a key derived from
 * the control planes' shared secret key, so any control plane on the database accepts it.
 * Only what is needed: `sub` (the host id), `iat`, `exp`, and `typ` so no other token signed
 * with the same key can pass for a host's.
 */
const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const TYPE = "wrenn-host";

export class HostJwt {
  private readonly key: Buffer;

  constructor(secretKey: Buffer) {
    this.key = createHmac("sha256", secretKey).update("wrenn host jwt v1").digest();
  }

  sign(
    hostId: string,
    lifetimeSeconds: number,
    now = Date.now(),
  ): { jwt: string; expiresAt: Date } {
    const iat = Math.floor(now / 1000);
    const exp = iat + lifetimeSeconds;
    const payload = Buffer.from(JSON.stringify({ sub: hostId, typ: TYPE, iat, exp })).toString(
      "base64url",
    );
    const signature = this.mac(`${HEADER}.${payload}`);
    return { jwt: `${HEADER}.${payload}.${signature}`, expiresAt: new Date(exp * 1000) };
  }

  /** The host id, or null for a token that is malformed, forged, of another kind or expired. */
  verify(jwt: string, now = Date.now()): string | null {
    const parts = jwt.split(".");
    if (parts.length !== 3 || parts[0] !== HEADER) return null;
    const [, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.mac(`${HEADER}.${payload}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: { sub?: unknown; typ?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      return null;
    }
    if (claims.typ !== TYPE || typeof claims.sub !== "string" || typeof claims.exp !== "number") {
      return null;
    }
    return claims.exp * 1000 > now ? claims.sub : null;
  }

  private mac(data: string): string {
    return createHmac("sha256", this.key).update(data).digest("base64url");
  }
}
