// What the browser is told about every admin response: a Content-Security-Policy that allows
// this origin only (no inline script or style, no framing, forms post here only), and no
// caching of pages that show live state or secrets.
import { randomBytes } from "node:crypto";
import type { FastifyReply } from "fastify";

const CSP_HEADER = "content-security-policy";

export function contentSecurityPolicy(styleNonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${styleNonce ? ` 'nonce-${styleNonce}'` : ""}`,
    "img-src 'self' data:",
    "font-src 'self'",
    // 'self' covers ws: and wss: to this origin (the terminal).
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

/** A fresh nonce for a page whose script makes <style> elements, set in its policy. */
export function allowStyleNonce(reply: FastifyReply): string {
  const nonce = randomBytes(16).toString("base64");
  reply.header(CSP_HEADER, contentSecurityPolicy(nonce));
  return nonce;
}

/** onSend: the headers every admin response carries (a page may have set its own policy). */
export async function securityHeaders(_request: unknown, reply: FastifyReply): Promise<void> {
  if (!reply.hasHeader(CSP_HEADER)) reply.header(CSP_HEADER, contentSecurityPolicy());
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  reply.header("referrer-policy", "same-origin");
  reply.header("cross-origin-opener-policy", "same-origin");
  if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
}
