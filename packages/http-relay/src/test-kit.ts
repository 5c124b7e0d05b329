// For tests of servers built on this package (exported as @wrenn/http-relay/testing).
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate for 127.0.0.1 and its key, as an operator makes them with openssl. */
export function loopbackCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "wrenn-test-cert-"));
  try {
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
        ...["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        ...["-keyout", "key.pem", "-out", "cert.pem"],
      ],
      { cwd: dir, stdio: "ignore" },
    );
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface UnreadUploadOptions {
  /** Where the POST goes: a handler there must never read the body. */
  path: string;
  bodyBytes: number;
  /** How many bytes the server side has read off the network so far. */
  serverBytesRead: () => number;
  /** No 'drain' for this long: the client's writes have stalled (backpressure reached it). */
  stallMs?: number;
}

/**
 * POSTs a body nobody reads on a connected socket, in 64 KiB writes, until the writes stall or
 * all of it is written; then says how much was written and how much the server read meanwhile.
 * With backpressure intact the server reads its buffers' worth (KiBs) and the rest waits in
 * TCP's windows; without, it reads everything the client sends.
 */
export async function uploadUnread(
  socket: net.Socket,
  o: UnreadUploadOptions,
): Promise<{ written: number; read: number }> {
  const head = `POST ${o.path} HTTP/1.1\r\nhost: x\r\ncontent-length: ${o.bodyBytes}\r\n\r\n`;
  const chunk = Buffer.alloc(64 * 1024, "a");
  let written = 0;
  while (written < o.bodyBytes) {
    // The head and the body's start in one write, as a client streaming a file sends them:
    // the first bytes the server reads are then more than its socket's highWaterMark.
    const body = chunk.subarray(0, Math.min(chunk.length, o.bodyBytes - written));
    const piece = written === 0 ? Buffer.concat([Buffer.from(head), body]) : body;
    written += body.length;
    if (socket.write(piece)) continue;
    const drained = await Promise.race([
      once(socket, "drain").then(() => true),
      sleep(o.stallMs ?? 2_000).then(() => false),
    ]);
    if (!drained) break;
  }
  // What was sent may still be on its way in: let the server read what it is going to.
  await sleep(500);
  return { written, read: o.serverBytesRead() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
