import { createHash, timingSafeEqual } from "node:crypto";
import type { AccessToken } from "./access-token.js";

// Signed /files URLs (E2B envd): signature = "v1_" + base64(sha256(
// "<path>:<read|write>:<username or ''>:<token>[:<expiration unix s>]")) without '=' padding.
export type FileOperation = "read" | "write";

export function signFilesUrl(
  token: string,
  path: string,
  operation: FileOperation,
  username: string,
  expiration?: number,
): string {
  const parts = [path, operation, username, token];
  if (expiration !== undefined) parts.push(String(expiration));
  const digest = createHash("sha256").update(parts.join(":")).digest("base64");
  return `v1_${digest.replace(/=+$/, "")}`;
}

export interface SignatureCheck {
  headerToken: string | undefined;
  signature: string | undefined;
  expiration: string | undefined;
  path: string;
  username: string | undefined;
  operation: FileOperation;
}

/** Returns an error message, or undefined when the request may proceed. */
export function checkFilesAccess(token: AccessToken, check: SignatureCheck): string | undefined {
  const secret = token.reveal();
  if (secret === undefined) return undefined;
  if (check.headerToken !== undefined && check.headerToken !== "") {
    return token.matches(check.headerToken)
      ? undefined
      : "access token present in header but does not match";
  }
  if (check.signature === undefined) return "missing signature query parameter";
  let expiration: number | undefined;
  if (check.expiration !== undefined) {
    if (!/^-?\d{1,15}$/.test(check.expiration)) return "invalid signature_expiration";
    expiration = Number(check.expiration);
  }
  const expected = signFilesUrl(
    secret,
    check.path,
    check.operation,
    check.username ?? "",
    expiration,
  );
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(check.signature).digest();
  if (!timingSafeEqual(a, b)) return "invalid signature";
  if (expiration !== undefined && expiration < Math.floor(Date.now() / 1000)) {
    return "signature is already expired";
  }
  return undefined;
}
