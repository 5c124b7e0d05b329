// Admin sessions are signed tokens, not rows: the control plane is stateless and several may
// serve one database behind a load balancer, so any of them must accept a session another
// issued. The key is derived from WRENN_SECRET_KEY (shared by those control planes), with a
// label of its own so it is never the key that seals envd tokens.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export interface SessionClaims {
  /** Random, 128 bits: names the session for logout and CSRF tokens. */
  sid: string;
  /** The admin API key the session was opened with; checked again on every request. */
  keyId: string;
  issuedAt: number;
  expiresAt: number;
}

const MAX_TOKEN_LENGTH = 512;
const b64url = (b: Buffer) => b.toString("base64url");

export class SessionSigner {
  private readonly key: Buffer;

  constructor(
    secretKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac("sha256", secretKey).update("wrenn admin session v1").digest();
  }

  private mac(purpose: string, data: string): Buffer {
    return createHmac("sha256", this.key).update(`${purpose}\0${data}`).digest();
  }

  issue(keyId: string, ttlMs: number): { token: string; claims: SessionClaims } {
    const issuedAt = this.now();
    const claims: SessionClaims = {
      sid: b64url(randomBytes(16)),
      keyId,
      issuedAt,
      expiresAt: issuedAt + ttlMs,
    };
    const payload = b64url(Buffer.from(JSON.stringify(claims)));
    return { token: `v1.${payload}.${b64url(this.mac("session", payload))}`, claims };
  }

  /** The claims of a well-signed, unexpired token; null for anything else. */
  verify(token: string | undefined): SessionClaims | null {
    if (!token || token.length > MAX_TOKEN_LENGTH) return null;
    const [version, payload, signature, ...rest] = token.split(".");
    if (version !== "v1" || !payload || !signature || rest.length > 0) return null;
    if (!equal(Buffer.from(signature, "base64url"), this.mac("session", payload))) return null;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      return null;
    }
    if (!isClaims(claims) || claims.expiresAt <= this.now()) return null;
    return claims;
  }

  /** The CSRF token of a session: derived, so nothing needs storing (synchronizer token). */
  csrfToken(sid: string): string {
    return b64url(this.mac("csrf", sid));
  }

  checkCsrf(sid: string, presented: string | undefined): boolean {
    return (
      presented !== undefined && equal(Buffer.from(presented), Buffer.from(this.csrfToken(sid)))
    );
  }

  /** A nonce for the login form's cookie and the token its hidden field carries. */
  loginNonce(): { nonce: string; token: string } {
    const nonce = b64url(randomBytes(16));
    return { nonce, token: this.loginToken(nonce) };
  }

  loginToken(nonce: string): string {
    return b64url(this.mac("login", nonce));
  }

  checkLogin(nonce: string | undefined, presented: string | undefined): boolean {
    if (!nonce || !presented || nonce.length > 64) return false;
    return equal(Buffer.from(presented), Buffer.from(this.loginToken(nonce)));
  }
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function isClaims(v: unknown): v is SessionClaims {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.sid === "string" &&
    typeof c.keyId === "string" &&
    typeof c.issuedAt === "number" &&
    typeof c.expiresAt === "number"
  );
}

/**
 * Sessions ended by logout, until they would have expired anyway. Kept in this process only: a
 * token copied before logout still works on another control plane until it expires (revoking
 * the API key ends every session of it everywhere).
 */
export class LoggedOutSessions {
  private readonly ended = new Map<string, number>();

  constructor(
    private readonly max = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(claims: SessionClaims): void {
    this.prune();
    if (this.ended.size >= this.max) {
      const oldest = this.ended.keys().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
    this.ended.set(claims.sid, claims.expiresAt);
  }

  has(sid: string): boolean {
    return this.ended.has(sid);
  }

  private prune(): void {
    const now = this.now();
    for (const [sid, expiresAt] of this.ended) if (expiresAt <= now) this.ended.delete(sid);
  }
}
