/**
 * What the egress proxy reads from the first bytes a sandbox sends on port 80: the request
 * head's Host header. The bytes read are passed on to the real server unchanged.
 */

export type HostVerdict =
  | { kind: "more" }
  | { kind: "name"; name: string }
  | { kind: "refuse"; why: string };

/** A request head larger than this is refused (servers commonly cap it at 8-16 KiB). */
export const MAX_HEAD_BYTES = 16 * 1024;

const REQUEST_LINE = /^[A-Z]{3,16} \S+ HTTP\/1\.[01]$/;

export function readHttpHost(buf: Buffer): HostVerdict {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) {
    if (buf.length >= MAX_HEAD_BYTES) return { kind: "refuse", why: "request head too large" };
    // Not HTTP at all: no need to wait for a blank line that will never come.
    const firstLine = buf.indexOf("\r\n");
    if (firstLine >= 0 && !REQUEST_LINE.test(buf.subarray(0, firstLine).toString("latin1"))) {
      return { kind: "refuse", why: "not an HTTP/1 request" };
    }
    return { kind: "more" };
  }
  const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
  if (!REQUEST_LINE.test(lines[0] ?? "")) return { kind: "refuse", why: "not an HTTP/1 request" };
  const hosts = lines
    .slice(1)
    .filter((l) => /^host:/i.test(l))
    .map((l) => l.slice(5).trim());
  // Two Host headers are a request smuggling trick: which one a server reads is its choice.
  if (hosts.length !== 1) return { kind: "refuse", why: `${hosts.length} Host headers` };
  const host = hosts[0]!;
  // host[:port]; a bracketed IPv6 literal or a stray colon matches no name anyway.
  const m = /^([^:[\]]+)(:\d{1,5})?$/.exec(host);
  if (!m) return { kind: "refuse", why: "malformed Host header" };
  return { kind: "name", name: m[1]! };
}

/** The answer to a refused plain HTTP request. */
export function forbiddenResponse(text: string): Buffer {
  const body = `${text}\n`;
  return Buffer.from(
    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
