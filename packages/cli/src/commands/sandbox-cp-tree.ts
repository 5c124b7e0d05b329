import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, opendir, rename, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Sandbox } from "@wrenn/sdk";
import { progressCounter } from "../output/transfer-progress.js";

/** What a copy did, for the line `cp` prints at the end. */
export interface CopyTally {
  files: number;
  dirs: number;
  bytes: number;
  /** Symbolic links and special files, which are not copied (named in the summary). */
  skipped: string[];
  /** With --verbose, each copied path as it is done. */
  onFile?: (from: string, to: string) => void;
}

export const newTally = (onFile?: CopyTally["onFile"]): CopyTally => ({
  files: 0,
  dirs: 0,
  bytes: 0,
  skipped: [],
  onFile,
});

/** One file up, streamed from disk (never held in memory). */
export async function uploadFile(
  box: Sandbox,
  local: string,
  remote: string,
  size: number,
  tally: CopyTally,
): Promise<void> {
  const progress = progressCounter(`${local} → ${box.sandboxId}:${remote}`, size);
  const body = Readable.toWeb(createReadStream(local).pipe(progress)) as ReadableStream<Uint8Array>;
  await box.files.write(remote, body);
  progress.done();
  tally.files++;
  tally.bytes += size;
  tally.onFile?.(local, `${box.sandboxId}:${remote}`);
}

/** One file down, written beside the target and renamed at the end (no half files). */
export async function downloadFile(
  box: Sandbox,
  remote: string,
  local: string,
  size: number,
  tally: CopyTally,
): Promise<void> {
  const stream = await box.files.read(remote, { format: "stream" });
  const progress = progressCounter(`${box.sandboxId}:${remote} → ${local}`, size);
  const partial = `${local}.wrenn-partial`;
  try {
    await pipeline(
      Readable.fromWeb(stream as import("node:stream/web").ReadableStream),
      progress,
      createWriteStream(partial),
    );
    await rename(partial, local);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  progress.done();
  tally.files++;
  tally.bytes += size;
  tally.onFile?.(`${box.sandboxId}:${remote}`, local);
}

/**
 * A local directory into the sandbox at `remote` (created), depth first. Only one directory's
 * entries are held at a time, and each file streams: a large tree never sits in memory.
 */
export async function uploadTree(
  box: Sandbox,
  local: string,
  remote: string,
  tally: CopyTally,
): Promise<void> {
  await box.files.makeDir(remote);
  tally.dirs++;
  for await (const entry of await opendir(local)) {
    const from = join(local, entry.name);
    const to = posix.join(remote, entry.name);
    if (entry.isDirectory()) await uploadTree(box, from, to, tally);
    else if (entry.isFile()) await uploadFile(box, from, to, (await lstat(from)).size, tally);
    else tally.skipped.push(from);
  }
}

/** A sandbox directory to `local` (created), one directory listing at a time. */
export async function downloadTree(
  box: Sandbox,
  remote: string,
  local: string,
  tally: CopyTally,
): Promise<void> {
  await mkdir(local, { recursive: true });
  tally.dirs++;
  for (const entry of await box.files.list(remote)) {
    const to = join(local, entry.name);
    if (entry.symlinkTarget) tally.skipped.push(`${box.sandboxId}:${entry.path}`);
    else if (entry.type === "dir") await downloadTree(box, entry.path, to, tally);
    else if (entry.type === "file") await downloadFile(box, entry.path, to, entry.size, tally);
    else tally.skipped.push(`${box.sandboxId}:${entry.path}`);
  }
}
