import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { actsAsItself, readAsUser } from "../filesystem/as-user.js";
import { errnoOf, httpStatusFor } from "../filesystem/errno.js";
import { PathError, resolveUserPath } from "../paths/resolve.js";
import type { SandboxState } from "../state/sandbox-state.js";
import type { SystemUser } from "../users/passwd.js";
import { negotiateEncoding } from "./encoding.js";
import { authorizeFiles, HttpError } from "./files-access.js";
import { refuse } from "./refuse.js";
import { jsonError } from "./respond.js";

// Large reads: fewer, bigger chunks cut per-chunk overhead on the way to the socket.
const HIGH_WATER_MARK = 512 * 1024;

/** An open file to send: its size when known up front, and its bytes. */
interface Source {
  size: number;
  regular: boolean;
  mtime: Date;
  /** Opens the bytes; `limit` ends them after that many (the size promised). */
  data(limit: number | undefined): Readable;
  cancel(): void;
}

/** Opens the file as the requesting user: the kernel decides what that user may read. */
async function openSource(path: string, user: SystemUser, binDir: string): Promise<Source> {
  if (!actsAsItself(user)) {
    const read = await readAsUser(binDir, user, path);
    return {
      size: read.size,
      regular: read.regular,
      mtime: new Date(read.mtimeMs),
      data: (limit) => (limit === undefined ? read.data : read.data.pipe(take(limit, read.cancel))),
      cancel: read.cancel,
    };
  }
  const st = await stat(path);
  if (st.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
  const open = (limit: number | undefined) =>
    createReadStream(
      path,
      limit === undefined
        ? { highWaterMark: HIGH_WATER_MARK }
        : { start: 0, end: limit - 1, highWaterMark: HIGH_WATER_MARK },
    );
  // Open before answering, so a file that cannot be read still gets a proper error status.
  const probe = open(undefined);
  await new Promise<void>((resolve, reject) => {
    probe.once("open", () => resolve());
    probe.once("error", reject);
  });
  probe.destroy();
  return { size: st.size, regular: st.isFile(), mtime: st.mtime, data: open, cancel: () => {} };
}

/** Passes the first `limit` bytes, then ends (a file that grew is cut at its promised size). */
function take(limit: number, stop: () => void): Transform {
  let left = limit;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (left <= 0) return done();
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      this.push(part);
      if (left <= 0) {
        stop();
        this.push(null);
      }
      done();
    },
  });
}

/** GET /files: streams a file, gzip-compressed when the client asks for it. */
export async function handleFilesGet(
  req: IncomingMessage,
  res: ServerResponse,
  state: SandboxState,
  binDir: string,
): Promise<void> {
  let path: string;
  let user: SystemUser;
  try {
    const access = authorizeFiles(req, state, "read");
    user = access.user;
    path = resolveUserPath(access.path ?? "", access.user, state.defaultWorkdir);
  } catch (error) {
    if (error instanceof HttpError)
      return refuse(req, res, error.status, error.message, error.headers);
    if (error instanceof PathError) return refuse(req, res, 400, error.message);
    throw error;
  }
  let source: Source;
  try {
    source = await openSource(path, user, binDir);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return jsonError(res, 404, `path '${path}' does not exist`);
    if (errnoOf(error) === "EISDIR") return jsonError(res, 400, `path '${path}' is a directory`);
    return jsonError(
      res,
      httpStatusFor(error),
      `error opening file '${path}': ${(error as Error).message}`,
    );
  }
  const header = req.headers["accept-encoding"];
  const encoding = negotiateEncoding(typeof header === "string" ? header : undefined);
  if (!encoding) {
    source.cancel();
    return jsonError(res, 406, "no acceptable encoding: supported are gzip and identity");
  }

  // Files that report size 0 may still have content (/proc, character devices): stream
  // those to their end; others exactly up to the size promised in Content-Length.
  const bounded = encoding === "identity" && source.regular && source.size > 0;
  const file = source.data(bounded ? source.size : undefined);
  res.once("close", () => source.cancel());
  const headers: Record<string, string | number> = {
    "content-type": "application/octet-stream",
    "content-disposition": `inline; filename*=UTF-8''${encodeURIComponent(basename(path))}`,
    "last-modified": source.mtime.toUTCString(),
    vary: "Accept-Encoding",
  };
  if (encoding === "gzip") {
    headers["content-encoding"] = "gzip";
    res.writeHead(200, headers);
    await pipeline(file, createGzip(), res).catch(() => res.destroy());
  } else {
    if (bounded) headers["content-length"] = source.size;
    res.writeHead(200, headers);
    await pipeline(file, res).catch(() => res.destroy());
  }
}
