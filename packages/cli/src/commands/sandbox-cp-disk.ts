// `wrenn sandbox cp ID:PATH LOCAL` for a failed sandbox: its processes are gone, so the copy
// reads its disk through the API (/v1 files for a file, /v1 archive's tar for a tree), which the
// host reads in a read-only gVisor container. The tar comes from a sandbox, so it is hostile:
// only regular files and directories are written, under the target, by names checked here;
// links and special files are skipped and named, as for a running sandbox.
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebStream } from "node:stream/web";
import type { WrennClient } from "@wrenn/sdk";
import { CliError, EXIT } from "../exit-codes.js";
import type { CopyTally } from "./sandbox-cp-tree.js";

/** One file of a failed sandbox to `local`, written beside it and renamed at the end. */
export async function diskFile(
  client: WrennClient,
  id: string,
  remote: string,
  local: string,
  tally: CopyTally,
): Promise<void> {
  const stream = await client.sandboxes.readFile(id, remote);
  const partial = `${local}.wrenn-partial`;
  let bytes = 0;
  try {
    await pipeline(
      Readable.fromWeb(stream as WebStream<Uint8Array>),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.byteLength;
          yield chunk;
        }
      },
      createWriteStream(partial),
    );
    await rename(partial, local);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  tally.files++;
  tally.bytes += bytes;
  tally.onFile?.(`${id}:${remote}`, local);
}

/** The largest GNU long-name or pax header read: a name, not a payload. */
export const LONG_HEADER_MAX_BYTES = 1024 * 1024;

/** A failed sandbox's tree (or file) at `remote` into `local`, from its tar. */
export async function diskTree(
  client: WrennClient,
  id: string,
  remote: string,
  local: string,
  tally: CopyTally,
): Promise<void> {
  const stream = await client.sandboxes.archive(id, remote);
  await extractTar(Readable.fromWeb(stream as WebStream<Uint8Array>), id, remote, local, tally);
}

/**
 * Writes the tar of `remote` under `local`: its top entry becomes `local` itself (a directory
 * made then, or a regular file written there). Only a tar closed by its end-of-archive block is
 * whole; a stream ending without it was cut.
 */
export async function extractTar(
  source: Readable,
  id: string,
  remote: string,
  local: string,
  tally: CopyTally,
): Promise<void> {
  const blocks = new BlockReader(source);
  let longName: string | undefined;
  let paxPath: string | undefined;
  for (;;) {
    const header = await blocks.read(512);
    if (!header)
      throw new CliError(
        "the archive ended without its end block: the transfer was cut",
        EXIT.error,
      );
    if (header.every((b) => b === 0)) break;
    const type = String.fromCharCode(header[156] ?? 0);
    const size = octal(header.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (type === "L" || type === "x") {
      if (size > LONG_HEADER_MAX_BYTES)
        throw new CliError(
          `the archive is not a valid tar: a ${size}-byte name header (at most ${LONG_HEADER_MAX_BYTES})`,
          EXIT.error,
        );
      const data = (await blocks.read(padded))?.subarray(0, size) ?? Buffer.alloc(0);
      if (type === "L") longName = cString(data);
      else paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString("utf8"))?.[1];
      continue;
    }
    const prefix = cString(header.subarray(345, 500));
    const name =
      paxPath ?? longName ?? (prefix ? `${prefix}/` : "") + cString(header.subarray(0, 100));
    longName = undefined;
    paxPath = undefined;
    const rel = inside(name);
    if (rel === undefined || (type !== "0" && type !== "\0" && type !== "5")) {
      tally.skipped.push(`${id}:${posix.join(posix.dirname(remote), name)}`);
      await blocks.skip(padded);
      continue;
    }
    const target = rel === "" ? local : join(local, ...rel.split("/"));
    if (type === "5") {
      await mkdir(target, { recursive: true });
      tally.dirs++;
      await blocks.skip(padded);
      continue;
    }
    await mkdir(join(target, ".."), { recursive: true });
    const partial = `${target}.wrenn-partial`;
    const out = createWriteStream(partial);
    try {
      await blocks.copyTo(out, size);
      await new Promise<void>((resolve, reject) =>
        out.end((e?: Error | null) => (e ? reject(e) : resolve())),
      );
      await rename(partial, target);
    } catch (error) {
      out.destroy();
      await rm(partial, { force: true });
      throw error;
    }
    await blocks.skip(padded - size);
    tally.files++;
    tally.bytes += size;
    tally.onFile?.(`${id}:${posix.join(posix.dirname(remote), name)}`, target);
  }
}

/**
 * A tar member's name below the archive's top entry ("" for the top itself), or undefined when
 * it is not a plain relative path (absolute, `..`, empty parts): such a member is skipped.
 */
export function inside(name: string): string | undefined {
  const parts = name.replace(/\/+$/, "").split("/");
  if (parts[0] === ".") parts.shift();
  if (parts.length === 0 || parts.some((p) => p === "" || p === "." || p === ".."))
    return undefined;
  return parts.slice(1).join("/");
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString("utf8");
}

/** A tar number: octal text, or base-256 when the first byte's high bit is set. */
function octal(b: Buffer): number {
  if ((b[0] ?? 0) & 0x80) {
    let n = (b[0] ?? 0) & 0x7f;
    for (const byte of b.subarray(1)) n = n * 256 + byte;
    return n;
  }
  const text = cString(b).trim();
  const n = text ? Number.parseInt(text, 8) : 0;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CliError("the archive is not a valid tar", EXIT.error);
  return n;
}

/** Exact-size reads over a byte stream, holding at most one chunk beyond what is asked. */
class BlockReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private held: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(source: Readable) {
    this.chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.held = this.held.length ? Buffer.concat([this.held, next.value]) : next.value;
    return true;
  }

  /** n bytes, or undefined at the end of the stream (a short read is a cut archive). */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.held.length < n) {
      if (!(await this.fill())) {
        if (this.held.length === 0) return undefined;
        throw new CliError("the archive ended early: the transfer was cut", EXIT.error);
      }
    }
    const out = this.held.subarray(0, n);
    this.held = this.held.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.held.length === 0 && !(await this.fill()))
        throw new CliError("the archive ended early: the transfer was cut", EXIT.error);
      const take = Math.min(left, this.held.length);
      this.held = this.held.subarray(take);
      left -= take;
    }
  }

  /** n bytes into `out`, chunk by chunk, waiting for it to drain. */
  async copyTo(out: WriteStream, n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.held.length === 0 && !(await this.fill()))
        throw new CliError("the archive ended early: the transfer was cut", EXIT.error);
      const piece = this.held.subarray(0, Math.min(left, this.held.length));
      this.held = this.held.subarray(piece.length);
      left -= piece.length;
      if (!out.write(piece))
        await new Promise<void>((resolve) => out.once("drain", () => resolve()));
    }
  }
}
