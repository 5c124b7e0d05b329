import { createHash } from "node:crypto";
import { chmod, lchown, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { TEMPLATE_STEP_LIMITS } from "@wrenn/contract";

const gunzipAsync = promisify(gunzip);

/** The tar inside a gzip upload, bounded: off the event loop, never past the contract's size. */
async function inflate(archive: Buffer): Promise<Buffer> {
  try {
    return await gunzipAsync(archive, { maxOutputLength: TEMPLATE_STEP_LIMITS.unpackedBytes });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError) {
      throw new ContextTarError(
        `the COPY archive unpacks to more than ${TEMPLATE_STEP_LIMITS.unpackedBytes} bytes`,
      );
    }
    throw new ContextTarError(`the COPY archive is not valid gzip: ${(error as Error).message}`);
  }
}

export class ContextTarError extends Error {}

export interface ContextEntry {
  name: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  data: Buffer;
  linkname: string;
}

/** An uploaded build context (a tar, gzip or not, as the E2B SDK's COPY uploads it), read. */
export async function readContext(archive: Buffer): Promise<ContextEntry[]> {
  return readTar(archive[0] === 0x1f && archive[1] === 0x8b ? await inflate(archive) : archive);
}

const dirMode = (e: ContextEntry) => e.mode & 0o7777 || 0o755;
const fileModeOf = (e: ContextEntry) => e.mode & 0o7777 || 0o644;

/**
 * What a context unpacks to, as a hash: each path (normalised), its type, the mode it gets,
 * and a file's content or a link's target; not the archive's bytes, so a tar made again with
 * other mtimes, owners, entry order or compression keys the same COPY layer (unpackContext
 * gives every entry the step's owner and its own times, so those never reach the layer).
 */
export function contextDigest(entries: readonly ContextEntry[]): string {
  const byName = new Map<string, ContextEntry>();
  // As unpacked: a directory listed twice takes its last mode.
  for (const e of entries) byName.set(e.name, e);
  const h = createHash("sha256");
  for (const name of [...byName.keys()].sort()) {
    const e = byName.get(name) as ContextEntry;
    const what =
      e.type === "file"
        ? `${fileModeOf(e).toString(8)} ${createHash("sha256").update(e.data).digest("hex")}`
        : e.type === "dir"
          ? dirMode(e).toString(8)
          : e.linkname;
    h.update(`${JSON.stringify([name, e.type, what])}\n`);
  }
  return h.digest("hex");
}

/**
 * Unpacks a build context (readContext) into `dest`, a fresh directory of the agent's. The
 * tar is hostile: names that are absolute or climb with `..` are refused, nothing is written
 * through a link of the archive (links are created last, and no entry may sit under one),
 * hard links and devices are refused. Every entry gets `owner`; regular files get `fileMode`
 * when given.
 */
export async function unpackContext(
  entries: readonly ContextEntry[],
  dest: string,
  owner: { uid: number; gid: number },
  fileMode?: number,
): Promise<void> {
  const links = new Set<string>();
  const seen = new Set<string>();
  for (const e of entries) if (e.type === "symlink") links.add(e.name);
  for (const e of entries) {
    const parts = e.name.split("/");
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join("/"))) {
        throw new ContextTarError(`archive entry ${e.name} lies under a link of the archive`);
      }
    }
    if (seen.has(e.name) && e.type !== "dir") {
      throw new ContextTarError(`archive entry ${e.name} appears twice`);
    }
    seen.add(e.name);
  }
  const at = (name: string) => path.join(dest, name);
  for (const e of entries) {
    if (e.type === "symlink") continue;
    await mkdir(path.dirname(at(e.name)), { recursive: true });
    if (e.type === "dir") {
      await mkdir(at(e.name), { recursive: true });
      await chmod(at(e.name), dirMode(e));
    } else {
      await writeFile(at(e.name), e.data, { flag: "wx" });
      await chmod(at(e.name), fileMode ?? fileModeOf(e));
    }
  }
  for (const e of entries) {
    if (e.type !== "symlink") continue;
    await mkdir(path.dirname(at(e.name)), { recursive: true });
    await symlink(e.linkname, at(e.name));
  }
  for (const name of [...seen].sort()) {
    let p = name;
    // Directories the archive implied without listing them get the owner too.
    for (;;) {
      await lchown(at(p), owner.uid, owner.gid);
      const up = path.posix.dirname(p);
      if (up === "." || seen.has(up)) break;
      p = up;
      seen.add(p);
    }
  }
}

function cleanName(raw: string): string {
  const name = raw.replace(/\/+$/, "");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (raw.startsWith("/") || parts.includes("..") || raw.includes("\0")) {
    throw new ContextTarError(`archive entry ${JSON.stringify(raw)} leaves the build context`);
  }
  return parts.join("/");
}

function field(block: Buffer, start: number, len: number): string {
  const raw = block.subarray(start, start + len);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? len : end).toString("utf8");
}

function octal(block: Buffer, start: number, len: number): number {
  if ((block[start] as number) & 0x80) {
    // GNU base-256 for large sizes.
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + (block[start + i] as number);
    return v;
  }
  const text = field(block, start, len).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space < 0) break;
    const len = Number(data.subarray(i, space).toString());
    if (!Number.isInteger(len) || len <= 0) throw new ContextTarError("bad pax header in archive");
    const rec = data.subarray(space + 1, i + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** ustar, pax and GNU long names; anything but files, directories and symbolic links refused. */
export function readTar(buf: Buffer): ContextEntry[] {
  const out: ContextEntry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (off + 512 <= buf.length) {
    const block = buf.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    const size = octal(block, 124, 12);
    const type = String.fromCharCode(block[156] as number);
    const dataStart = off + 512;
    if (!Number.isSafeInteger(size) || size < 0 || dataStart + size > buf.length) {
      throw new ContextTarError("the archive is truncated or not a tar");
    }
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (type === "x") {
      pax = paxRecords(data);
      continue;
    }
    if (type === "g") continue;
    if (type === "L" || type === "K") {
      const text = data.toString("utf8").replace(/\0.*$/s, "");
      if (type === "L") longName = text;
      else longLink = text;
      continue;
    }
    const prefix = field(block, 345, 155);
    const rawName =
      pax.path ?? longName ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? field(block, 157, 100);
    pax = {};
    longName = undefined;
    longLink = undefined;
    const name = cleanName(rawName);
    if (name === "") continue;
    const mode = octal(block, 100, 8);
    if (type === "0" || type === "\0" || type === "7") {
      out.push({ name, type: "file", mode, data, linkname: "" });
    } else if (type === "5") {
      out.push({ name, type: "dir", mode, data: Buffer.alloc(0), linkname: "" });
    } else if (type === "2") {
      out.push({ name, type: "symlink", mode, data: Buffer.alloc(0), linkname });
    } else {
      throw new ContextTarError(
        `archive entry ${name}: ${type === "1" ? "hard links" : `entries of type '${type}'`} are not supported`,
      );
    }
  }
  return out;
}
