import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/**
 * Seals envd access tokens for storage. The control plane must hand out the same token after a
 * resume (E2B clients keep using the one they got at create), so it has to be recoverable; it is
 * encrypted so a database dump or backup does not open every live sandbox.
 */
export class TokenCipher {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error("the secret key must be 32 bytes");
    this.keyId = createHash("sha256").update(key).digest("hex").slice(0, 8);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      "v1",
      this.keyId,
      iv.toString("base64url"),
      body.toString("base64url"),
      tag.toString("base64url"),
    ].join(".");
  }

  open(sealed: string): string {
    const [version, keyId, iv, body, tag] = sealed.split(".");
    if (version !== "v1" || iv === undefined || body === undefined || tag === undefined) {
      throw new Error("unreadable sealed token");
    }
    if (keyId !== this.keyId) {
      throw new Error(
        `token sealed with secret key ${keyId}, but this control plane has key ${this.keyId}; every control plane sharing a database needs the same WRENN_SECRET_KEY`,
      );
    }
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([
      decipher.update(Buffer.from(body, "base64url")),
      decipher.final(),
    ]).toString("utf8");
  }
}

export function generateEnvdToken(): string {
  return randomBytes(24).toString("base64url");
}
