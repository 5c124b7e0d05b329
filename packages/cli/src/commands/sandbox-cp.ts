import { stat } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { Sandbox, type WrennClient, WrennError } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { formatBytes } from "../output/table.js";
import { diskFile, diskTree } from "./sandbox-cp-disk.js";
import {
  type CopyTally,
  downloadFile,
  downloadTree,
  newTally,
  uploadFile,
  uploadTree,
} from "./sandbox-cp-tree.js";

/** `sb-1a2b3c4d:/path` → the sandbox and the path in it; a local path → undefined. */
export function remoteSpec(arg: string): { id: string; path: string } | undefined {
  const m = /^(sb-[0-9a-zA-Z_-]+|[A-Za-z0-9_-]{3,64}):(.*)$/.exec(arg);
  // "./x:y" and "/x:y" are local files with a colon in their name.
  if (!m || arg.startsWith(".") || arg.startsWith("/")) return undefined;
  return { id: m[1]!, path: m[2] || "." };
}

async function remoteType(box: Sandbox, path: string): Promise<"file" | "dir" | undefined> {
  try {
    const type = (await box.files.getInfo(path)).type;
    return type === "dir" ? "dir" : "file";
  } catch {
    return undefined;
  }
}

/** Where a copy lands: into an existing directory (keeping the name), else at the path. */
function into(dir: string, name: string, sep: typeof posix.join | typeof join): string {
  return sep(dir.replace(/\/$/, "") || "/", name);
}

async function upload(
  box: Sandbox,
  local: string,
  remote: string,
  recursive: boolean,
  tally: CopyTally,
): Promise<string> {
  const info = await stat(local).catch(() => {
    throw new CliError(`${local}: no such file or directory`, EXIT.notFound);
  });
  const existing = await remoteType(box, remote);
  const name = basename(local.replace(/\/+$/, "")) || "root";
  const target =
    existing === "dir" || remote.endsWith("/") || remote === "."
      ? into(remote, name, posix.join)
      : remote;
  if (info.isDirectory()) {
    if (!recursive) throw usageError(`${local} is a directory: use -r to copy a directory tree`);
    if (existing === "file" && target === remote)
      throw usageError(`${box.sandboxId}:${remote} is a file; cannot copy a directory onto it`);
    await uploadTree(box, local, target, tally);
  } else if (info.isFile()) {
    await uploadFile(box, local, target, info.size, tally);
  } else throw usageError(`${local} is neither a file nor a directory`);
  return `${box.sandboxId}:${target}`;
}

async function download(
  box: Sandbox,
  remote: string,
  local: string,
  recursive: boolean,
  tally: CopyTally,
): Promise<string> {
  const info = await box.files.getInfo(remote);
  const localInfo = await stat(local).catch(() => undefined);
  const name = basename(info.path) || "root";
  const target = localInfo?.isDirectory() || local.endsWith("/") ? join(local, name) : local;
  if (info.type === "dir") {
    if (!recursive)
      throw usageError(
        `${box.sandboxId}:${remote} is a directory: use -r to copy a directory tree`,
      );
    if (localInfo?.isFile() && target === local)
      throw usageError(`${local} is a file; cannot copy a directory onto it`);
    await downloadTree(box, info.path, target, tally);
  } else {
    await downloadFile(box, remote, target, info.size, tally);
  }
  return target;
}

/** cp out of a failed sandbox: a file, or with -r a tree (from its tar); where it landed. */
async function fromDisk(
  client: WrennClient,
  id: string,
  remote: string,
  local: string,
  recursive: boolean,
  tally: CopyTally,
): Promise<string> {
  const localInfo = await stat(local).catch(() => undefined);
  const name = posix.basename(posix.resolve("/", remote)) || "root";
  const target = localInfo?.isDirectory() || local.endsWith("/") ? join(local, name) : local;
  if (recursive) {
    if (localInfo?.isFile() && target === local)
      throw usageError(`${local} is a file; cannot copy a directory onto it`);
    await diskTree(client, id, remote, target, tally);
    return target;
  }
  try {
    await diskFile(client, id, remote, target, tally);
  } catch (error) {
    if (error instanceof WrennError && /is a directory/.test(error.message))
      throw usageError(`${id}:${remote} is a directory: use -r to copy a directory tree`);
    throw error;
  }
  return target;
}

/** Names come from the sandbox: quoted and escaped, so none can carry terminal escapes. */
export function summary(tally: CopyTally, from: string, to: string): string {
  const parts = [`${tally.files} file${tally.files === 1 ? "" : "s"}`];
  if (tally.dirs) parts.push(`${tally.dirs} director${tally.dirs === 1 ? "y" : "ies"}`);
  const skipped = tally.skipped.length
    ? `; skipped ${tally.skipped.length} link(s) or special file(s): ${tally.skipped
        .slice(0, 5)
        .map((name) => JSON.stringify(name))
        .join(", ")}${tally.skipped.length > 5 ? ", …" : ""}`
    : "";
  return `Copied ${parts.join(" and ")} (${formatBytes(tally.bytes)}): ${from} → ${to}${skipped}\n`;
}

export function registerSandboxCp(sandbox: Command): void {
  sandbox
    .command("cp")
    .description("Copy files or directory trees into or out of a sandbox (streamed)")
    .argument("<source>", "a local path, or ID:/path in a sandbox")
    .argument("<destination>", "ID:/path in a sandbox, or a local path")
    .option("-r, --recursive", "copy directories and everything in them")
    .option("-v, --verbose", "print every file as it is copied")
    .addHelpText(
      "after",
      `
Exactly one side is a sandbox path, written ID:PATH (relative paths start in the user's home).
A destination that is an existing directory (or ends with /) receives the source under its
own name; otherwise the source is copied to that path. Files stream in both directions, one at
a time, so trees of any size never sit in memory. Symbolic links and special files are
skipped and named. Prints one line saying what was copied (every file with -v).

From a failed sandbox (state error: its processes are gone, its disk is kept) the copy reads
the stopped sandbox's disk through the API (a file, or with -r the tree's tar), and says so.

Examples:
  wrenn sandbox cp ./data.csv sb-1a2b3c4d:/home/user/
  wrenn sandbox cp -r ./project sb-1a2b3c4d:/home/user/
  wrenn sandbox cp -r sb-1a2b3c4d:/home/user/project/out ./results`,
    )
    .action(async (source: string, destination: string, o, command: Command) => {
      const from = remoteSpec(source);
      const to = remoteSpec(destination);
      if (Boolean(from) === Boolean(to))
        throw usageError("exactly one of source and destination must be a sandbox path (ID:/path)");
      const ctx = await contextOf(command);
      const spec = (from ?? to)!;
      if (from) {
        // A failed sandbox cannot be connected to (its processes are gone): read its disk.
        const info = await ctx.client().sandboxes.info(from.id);
        if (info.state === "error") {
          process.stderr.write(
            `${info.sandboxId} is in state error (its processes are gone): reading from the stopped sandbox's disk\n`,
          );
          const tally = newTally(
            o.verbose ? (a, b) => process.stdout.write(`${a} → ${b}\n`) : undefined,
          );
          const landed = await fromDisk(
            ctx.client(),
            info.sandboxId,
            from.path,
            destination,
            Boolean(o.recursive),
            tally,
          );
          process.stdout.write(summary(tally, source, landed));
          return;
        }
      }
      const box = await Sandbox.connect(spec.id, ctx.sdk());
      const tally = newTally(
        o.verbose ? (a, b) => process.stdout.write(`${a} → ${b}\n`) : undefined,
      );
      const landed = to
        ? await upload(box, source, to.path, Boolean(o.recursive), tally)
        : await download(box, from!.path, destination, Boolean(o.recursive), tally);
      process.stdout.write(summary(tally, source, landed));
    });
}
