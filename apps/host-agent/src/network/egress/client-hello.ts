/**
 * What the egress proxy reads from the first bytes a sandbox sends on port 443: the TLS
 * ClientHello's server name (SNI). Nothing is decrypted or changed; the bytes read are passed
 * on to the real server as they are.
 */

export type HelloVerdict =
  /** More bytes are needed to decide. */
  | { kind: "more" }
  | { kind: "name"; name: string }
  /** Not a TLS ClientHello, or one without a usable server name. */
  | { kind: "refuse"; why: string };

/** A ClientHello spread over more records than this is not one we wait for. */
export const MAX_HELLO_BYTES = 16 * 1024 + 5;

const EXT_SERVER_NAME = 0x0000;
/** encrypted_client_hello (draft-ietf-tls-esni): the real name is encrypted. */
const EXT_ECH = 0xfe0d;

/** Reads SNI from the start of a TLS stream (the ClientHello may span several records). */
export function readClientHello(buf: Buffer): HelloVerdict {
  if (buf.length >= 1 && buf[0] !== 0x16) return { kind: "refuse", why: "not TLS" };
  // Reassemble handshake bytes from consecutive handshake records.
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16) return { kind: "refuse", why: "not a TLS handshake" };
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) break;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  const hs = Buffer.concat(parts);
  if (hs.length < 4) return more(buf);
  if (hs[0] !== 0x01)
    return { kind: "refuse", why: "first handshake message is not a ClientHello" };
  const bodyLen = hs.readUIntBE(1, 3);
  if (hs.length < 4 + bodyLen) return more(buf);
  return parseHello(hs.subarray(4, 4 + bodyLen));
}

function more(buf: Buffer): HelloVerdict {
  return buf.length >= MAX_HELLO_BYTES
    ? { kind: "refuse", why: "ClientHello too large" }
    : { kind: "more" };
}

function parseHello(b: Buffer): HelloVerdict {
  const bad: HelloVerdict = { kind: "refuse", why: "malformed ClientHello" };
  let p = 2 + 32; // version, random
  if (p + 1 > b.length) return bad;
  p += 1 + b[p]!; // session id
  if (p + 2 > b.length) return bad;
  p += 2 + b.readUInt16BE(p); // cipher suites
  if (p + 1 > b.length) return bad;
  p += 1 + b[p]!; // compression methods
  if (p + 2 > b.length) return { kind: "refuse", why: "no server name (no extensions)" };
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return bad;
  p += 2;
  let name: string | undefined;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const data = b.subarray(p + 4, p + 4 + len);
    if (p + 4 + len > end) return bad;
    if (type === EXT_ECH) {
      return { kind: "refuse", why: "encrypted ClientHello (ECH) hides the server name" };
    }
    if (type === EXT_SERVER_NAME) {
      if (name !== undefined) return bad;
      name = serverName(data);
      if (name === undefined) return bad;
    }
    p += 4 + len;
  }
  return name === undefined
    ? { kind: "refuse", why: "no server name (SNI)" }
    : { kind: "name", name };
}

/** The host_name entry of a server_name extension (RFC 6066 §3); exactly one is allowed. */
function serverName(d: Buffer): string | undefined {
  if (d.length < 2 || d.readUInt16BE(0) !== d.length - 2) return undefined;
  let p = 2;
  let found: string | undefined;
  while (p + 3 <= d.length) {
    const type = d[p]!;
    const len = d.readUInt16BE(p + 1);
    if (p + 3 + len > d.length) return undefined;
    if (type === 0) {
      if (found !== undefined) return undefined;
      const raw = d.subarray(p + 3, p + 3 + len);
      // Names are ASCII; anything else is refused rather than guessed at.
      if (!raw.every((c) => c > 0x20 && c < 0x7f)) return undefined;
      found = raw.toString("ascii");
    }
    p += 3 + len;
  }
  return found;
}

/** A fatal TLS alert (access_denied), so a refused client fails at once with a clear error. */
export const TLS_ACCESS_DENIED = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
