import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { IO_LIMITS } from "@wrenn/contract";
import { credentialArgs } from "../process/launch.js";
import type { SystemUser } from "../users/passwd.js";
import type { EntryFacts } from "./entry.js";
import type { FileIdentity } from "./metadata.js";

// File operations with the requesting user's rights (native/wrenn-files.c, started through
// wrenn-pty with the user's uid, gid and groups exactly as a command is). The kernel checks
// every path component as that user, so nothing a sandbox process does between a check and a
// use can lend it envd's root rights. When envd already is that user (root asking as root),
// callers act in-process instead: actsAsItself().

/** A failure of the helper, with the errno name as `code` (filesystem/errno.ts maps it). */
export class FileOpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function actsAsItself(user: SystemUser): boolean {
  return process.getuid?.() === user.uid;
}

interface Started {
  child: ChildProcess;
  /** The helper's first status line ("ok ..."), or a FileOpError. */
  status: Promise<string>;
  /** Settles when the helper has exited: rejects with its error line, if any. */
  exited: Promise<void>;
}

function start(binDir: string, user: SystemUser, args: string[], stdin: boolean): Started {
  const helper = join(binDir, "wrenn-files");
  const child = spawn(
    join(binDir, "wrenn-pty"),
    [...credentialArgs(user), "--exec", "--", helper, ...args],
    // fd 3: wrenn-pty's own failures (switching credentials, exec), before wrenn-files runs.
    { cwd: "/", env: {}, stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  let launcher = "";
  let resolveStatus: (line: string) => void = () => {};
  let rejectStatus: (error: Error) => void = () => {};
  const status = new Promise<string>((resolve, reject) => {
    resolveStatus = resolve;
    rejectStatus = reject;
  });
  status.catch(() => {});
  const lineError = (line: string) => {
    const match = /^error (\S+) (.*)$/.exec(line);
    return new FileOpError(match?.[1] ?? "EIO", match?.[2] ?? line);
  };
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
    const first = stderr.split("\n", 1)[0] ?? "";
    if (stderr.includes("\n")) {
      if (first.startsWith("ok")) resolveStatus(first);
      else rejectStatus(lineError(first));
    }
  });
  const control = child.stdio[3] as Readable | null;
  control?.setEncoding("utf8");
  control?.on("data", (chunk: string) => {
    launcher += chunk;
  });
  control?.on("error", () => {});
  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", (error) => {
      const failure = new FileOpError("EIO", `cannot run the file helper: ${error.message}`);
      rejectStatus(failure);
      reject(failure);
    });
    child.once("close", (code, signal) => {
      const lines = stderr.trim().split("\n");
      const last = lines[lines.length - 1] ?? "";
      if (code === 0) {
        resolveStatus(lines[0] ?? "ok");
        resolve();
        return;
      }
      const failure = last.startsWith("error ")
        ? lineError(last)
        : new FileOpError(
            "EIO",
            launcher.trim().replace(/^error /, "") ||
              `the file helper failed (${signal ?? `exit ${code}`})`,
          );
      rejectStatus(failure);
      reject(failure);
    });
  });
  exited.catch(() => {});
  return { child, status, exited };
}

/** An entry as wrenn-files reports it: its path relative to what was asked, and its facts. */
export interface UserEntry {
  relative: string;
  facts: EntryFacts;
}

function identityOf(dev: string, ino: string, birth: string): FileIdentity {
  return { dev: BigInt(dev), ino: BigInt(ino), birthtimeNs: BigInt(birth) };
}

/** Parses wrenn-files' entry records (four NUL-terminated fields each, see wrenn-files.c). */
export function parseEntryRecords(out: Buffer): UserEntry[] {
  const fields = out.toString("utf8").split("\0");
  fields.pop(); // after the last NUL
  if (fields.length % 4 !== 0)
    throw new FileOpError("EIO", "the file helper's listing is cut short");
  const entries: UserEntry[] = [];
  for (let i = 0; i < fields.length; i += 4) {
    const [relative = "", lstat = "", target = "", targetStat = ""] = fields.slice(i, i + 4);
    const [mode, size, uid, gid, sec, nsec, dev, ino, birth] = lstat.split(" ");
    const facts: EntryFacts = {
      mode: Number(mode),
      size: BigInt(size ?? 0),
      uid: Number(uid),
      gid: Number(gid),
      mtimeNs: BigInt(sec ?? 0) * 1_000_000_000n + BigInt(nsec ?? 0),
      identity: identityOf(dev ?? "0", ino ?? "0", birth ?? "0"),
    };
    if (target !== "") {
      const [tMode, tDev, tIno, tBirth] = targetStat.split(" ");
      facts.link = {
        target,
        stat:
          targetStat === "-"
            ? undefined
            : {
                mode: Number(tMode),
                identity: identityOf(tDev ?? "0", tIno ?? "0", tBirth ?? "0"),
              },
      };
    }
    entries.push({ relative, facts });
  }
  return entries;
}

async function entriesAsUser(binDir: string, user: SystemUser, args: string[]) {
  const started = start(binDir, user, args, false);
  const chunks: Buffer[] = [];
  started.child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk));
  await started.exited;
  return parseEntryRecords(Buffer.concat(chunks));
}

/** lstat of `path` as `user` (with a symlink's target resolved as the user could). */
export async function statAsUser(
  binDir: string,
  user: SystemUser,
  path: string,
): Promise<EntryFacts> {
  const [entry] = await entriesAsUser(binDir, user, ["stat", path]);
  if (!entry) throw new FileOpError("EIO", "the file helper reported no entry");
  return entry.facts;
}

/**
 * Lists the directory `path` resolves to, `depth` levels down, as `user`: every directory is
 * opened and read by the helper with the user's rights, so no path swapped meanwhile can show
 * the user what it could not list itself. Past IO_LIMITS.listEntries entries or listNameBytes
 * of names the helper stops reading and this rejects with FileOpError E2BIG ("entries" or
 * "names" as its message).
 */
export function listAsUser(binDir: string, user: SystemUser, path: string, depth: number) {
  return entriesAsUser(binDir, user, [
    "list",
    path,
    String(depth),
    String(IO_LIMITS.listEntries),
    String(IO_LIMITS.listNameBytes),
  ]);
}

/** Runs one operation (mkdir, rename, remove) to its end. */
export async function fileOp(binDir: string, user: SystemUser, args: string[]): Promise<void> {
  await start(binDir, user, args, false).exited;
}

export interface UserRead {
  size: number;
  regular: boolean;
  mtimeMs: number;
  /** The file's bytes; ends when the file does. */
  data: Readable;
  /** Rejects if reading failed after the start. */
  exited: Promise<void>;
  cancel(): void;
}

/** Opens `path` for reading as `user`; rejects (EACCES, ENOENT, EISDIR, ...) before any byte. */
export async function readAsUser(
  binDir: string,
  user: SystemUser,
  path: string,
): Promise<UserRead> {
  const started = start(binDir, user, ["read", path], false);
  const line = await started.status;
  const [, size, kind, mtime] = line.split(" ");
  return {
    size: Number(size),
    regular: kind === "f",
    mtimeMs: Number(mtime),
    data: started.child.stdout as Readable,
    exited: started.exited,
    cancel: () => started.child.kill("SIGKILL"),
  };
}

export interface UserWrite {
  /** Write the file's bytes here and end it; `exited` then says whether all went to disk. */
  sink: Writable;
  exited: Promise<void>;
  cancel(): void;
}

/**
 * Opens `path` for writing as `user` (creating missing parent directories as the user);
 * rejects before any byte when the user may not.
 */
export async function writeAsUser(
  binDir: string,
  user: SystemUser,
  path: string,
): Promise<UserWrite> {
  const started = start(binDir, user, ["write", path], true);
  await started.status;
  const sink = started.child.stdin as Writable;
  sink.on("error", () => {});
  return { sink, exited: started.exited, cancel: () => started.child.kill("SIGKILL") };
}
