import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { progressCounter } from "../output/transfer-progress.js";

/** `sb-1a2b3c4d:/path` → the sandbox and the path in it; a local path → undefined. */
export function remoteSpec(arg: string): { id: string; path: string } | undefined {
  const m = /^(sb-[0-9a-zA-Z_-]+|[A-Za-z0-9_-]{3,64}):(.*)$/.exec(arg);
  // "./x:y" and "/x:y" are local files with a colon in their name.
  if (!m || arg.startsWith(".") || arg.startsWith("/")) return undefined;
  return { id: m[1]!, path: m[2] || "." };
}

async function upload(box: Sandbox, local: string, remote: string): Promise<string> {
  const info = await stat(local).catch(() => {
    throw new CliError(`${local}: no such file`, EXIT.notFound);
  });
  if (!info.isFile()) throw usageError(`${local} is not a file (cp copies one file at a time)`);
  let target = remote;
  if (target.endsWith("/") || target === "." || (await isRemoteDir(box, target)))
    target = `${target.replace(/\/$/, "")}/${basename(local)}`;
  const progress = progressCounter(`${basename(local)} → ${box.sandboxId}:${target}`, info.size);
  const body = Readable.toWeb(createReadStream(local).pipe(progress)) as ReadableStream<Uint8Array>;
  await box.files.write(target, body);
  progress.done();
  return target;
}

async function isRemoteDir(box: Sandbox, path: string): Promise<boolean> {
  try {
    return (await box.files.getInfo(path)).type === "dir";
  } catch {
    return false;
  }
}

async function download(box: Sandbox, remote: string, local: string): Promise<string> {
  const info = await box.files.getInfo(remote);
  if (info.type === "dir")
    throw usageError(`${box.sandboxId}:${remote} is a directory (cp copies one file at a time)`);
  let target = local;
  const localInfo = await stat(local).catch(() => undefined);
  if (localInfo?.isDirectory() || local.endsWith("/")) target = join(local, basename(remote));
  const stream = await box.files.read(remote, { format: "stream" });
  const progress = progressCounter(`${box.sandboxId}:${remote} → ${target}`, info.size);
  // Written beside the target and renamed at the end: an interrupted copy leaves no half file.
  const partial = `${target}.wrenn-partial`;
  try {
    await pipeline(
      Readable.fromWeb(stream as import("node:stream/web").ReadableStream),
      progress,
      createWriteStream(partial),
    );
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  progress.done();
  return target;
}

export function registerSandboxCp(sandbox: Command): void {
  sandbox
    .command("cp")
    .description("Copy a file into or out of a sandbox (streamed; progress on a terminal)")
    .argument("<source>", "a local path, or ID:/path in a sandbox")
    .argument("<destination>", "ID:/path in a sandbox, or a local path")
    .addHelpText(
      "after",
      `
Exactly one side is a sandbox path, written ID:PATH (relative paths start in the user's home).
A destination that is a directory (or ends with /) keeps the file's name.

Examples:
  wrenn sandbox cp ./data.csv sb-1a2b3c4d:/home/user/
  wrenn sandbox cp sb-1a2b3c4d:/home/user/report.pdf ./`,
    )
    .action(async (source: string, destination: string, _o, command: Command) => {
      const from = remoteSpec(source);
      const to = remoteSpec(destination);
      if (Boolean(from) === Boolean(to))
        throw usageError("exactly one of source and destination must be a sandbox path (ID:/path)");
      const ctx = await contextOf(command);
      const spec = (from ?? to)!;
      const box = await Sandbox.connect(spec.id, ctx.sdk());
      if (to) await upload(box, source, to.path);
      else await download(box, from!.path, destination);
    });
}
