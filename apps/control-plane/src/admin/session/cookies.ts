// Cookie header parsing and Set-Cookie values, for the two cookies the admin UI sets; too
// little to pull in @fastify/cookie for.

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  secure: boolean;
}

/** HttpOnly and SameSite=Strict always: scripts never read them, other sites never send them. */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  const parts = [
    `${name}=${value}`,
    `Path=${o.path}`,
    `Max-Age=${Math.max(0, Math.floor(o.maxAge))}`,
    "HttpOnly",
    "SameSite=Strict",
  ];
  if (o.secure) parts.push("Secure");
  return parts.join("; ");
}
