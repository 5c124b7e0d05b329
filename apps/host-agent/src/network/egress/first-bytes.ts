import { MAX_HELLO_BYTES, readClientHello } from "./client-hello.js";
import { MAX_HEAD_BYTES, readHttpHost } from "./http-host.js";

export type FirstBytesKind = "http" | "tls";

export type FirstBytesVerdict =
  | { kind: "more" }
  | { kind: "name"; name: string; head: Buffer }
  | { kind: "refuse"; why: string };

/**
 * Collects what a sandbox sends first on a proxied connection (the ClientHello or the request
 * head) into one buffer allocated once, and parses it only when a parse can decide something:
 * a client dribbling one byte per segment must cost linear time, not a copy and a full parse
 * per segment.
 */
export class FirstBytes {
  private readonly buf: Buffer;
  private len = 0;
  /** What arrived past the buffer's end: not parsed, but passed on with the head. */
  private overflow: Buffer[] = [];
  private readonly ready: (buf: Buffer, len: number) => boolean;

  constructor(private readonly kind: FirstBytesKind) {
    const tls = kind === "tls";
    this.buf = Buffer.allocUnsafe(tls ? MAX_HELLO_BYTES : MAX_HEAD_BYTES);
    this.ready = tls ? helloGate() : headGate();
  }

  push(chunk: Buffer): FirstBytesVerdict {
    const n = chunk.copy(this.buf, this.len);
    this.len += n;
    if (n < chunk.length) this.overflow.push(chunk.subarray(n));
    const full = this.len >= this.buf.length;
    if (!this.ready(this.buf, this.len) && !full) return { kind: "more" };
    const view = this.buf.subarray(0, this.len);
    const v = this.kind === "tls" ? readClientHello(view) : readHttpHost(view);
    if (v.kind === "name") {
      return { ...v, head: Buffer.concat([view, ...this.overflow]) };
    }
    if (v.kind === "more" && full) return { kind: "refuse", why: "too large" };
    return v;
  }
}

/**
 * TLS: worth parsing once the handshake bytes in complete records reach the ClientHello's
 * announced length (or something is not a handshake record: refused at once).
 */
function helloGate(): (buf: Buffer, len: number) => boolean {
  let scan = 0; // start of the first record not yet complete
  let hs = 0; // handshake bytes in complete records
  const header = Buffer.alloc(4); // the handshake message's type and length
  let need = Number.POSITIVE_INFINITY;
  return (buf, len) => {
    if (len >= 1 && buf[0] !== 0x16) return true;
    let grew = false;
    while (scan + 5 <= len) {
      if (buf[scan] !== 0x16) return true;
      const recLen = buf.readUInt16BE(scan + 3);
      if (scan + 5 + recLen > len) break;
      for (let i = 0; i < recLen && hs + i < 4; i++) header[hs + i] = buf[scan + 5 + i]!;
      hs += recLen;
      scan += 5 + recLen;
      grew = true;
    }
    if (!grew || hs < 4) return false;
    if (need === Number.POSITIVE_INFINITY) {
      if (header[0] !== 0x01) return true;
      need = 4 + header.readUIntBE(1, 3);
    }
    return hs >= need;
  };
}

/**
 * HTTP: worth parsing once the first line has ended (a non-HTTP client is refused at once),
 * then only when a blank line may have arrived: each search starts 3 bytes before the last
 * one's end, so no byte is searched more than a few times.
 */
function headGate(): (buf: Buffer, len: number) => boolean {
  let searched = 0;
  let sawLine = false;
  return (buf, len) => {
    const from = Math.max(0, searched - 3);
    searched = len;
    const view = buf.subarray(0, len);
    if (!sawLine && view.indexOf("\r\n", from) >= 0) {
      sawLine = true;
      return true;
    }
    return sawLine && view.indexOf("\r\n\r\n", from) >= 0;
  };
}
