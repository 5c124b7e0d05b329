import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { errnoOf, httpStatusFor } from "../filesystem/errno.js";
import { PathError, resolveUserPath } from "../paths/resolve.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { negotiateEncoding } from "./encoding.js";
import { authorizeFiles, HttpError } from "./files-access.js";
import { refuse } from "./refuse.js";
import { jsonError } from "./respond.js";

/** GET /files: streams a file, gzip-compressed when the client asks for it. */
export async function handleFilesGet(
  req: IncomingMessage,
  res: ServerResponse,
  state: SandboxState,
): Promise<void> {
  let path: string;
  try {
    const access = authorizeFiles(req, state, "read");
    path = resolveUserPath(access.path ?? "", access.user, state.defaultWorkdir);
  } catch (error) {
    if (error instanceof HttpError)
      return refuse(req, res, error.status, error.message, error.headers);
    if (error instanceof PathError) return refuse(req, res, 400, error.message);
    throw error;
  }
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return jsonError(res, 404, `path '${path}' does not exist`);
    return jsonError(
      res,
      httpStatusFor(error),
      `error checking path '${path}': ${(error as Error).message}`,
    );
  }
  if (st.isDirectory()) return jsonError(res, 400, `path '${path}' is a directory`);
  const header = req.headers["accept-encoding"];
  const encoding = negotiateEncoding(typeof header === "string" ? header : undefined);
  if (!encoding)
    return jsonError(res, 406, "no acceptable encoding: supported are gzip and identity");

  // Files that report size 0 may still have content (/proc, character devices): stream
  // those to their end; others exactly up to the size promised in Content-Length.
  const bounded = encoding === "identity" && st.isFile() && st.size > 0;
  // Large reads: fewer, bigger chunks cut per-chunk overhead on the way to the socket.
  const highWaterMark = 512 * 1024;
  const file = createReadStream(
    path,
    bounded ? { start: 0, end: st.size - 1, highWaterMark } : { highWaterMark },
  );
  // Open before answering, so a file that cannot be read still gets a proper error status.
  try {
    await new Promise<void>((resolve, reject) => {
      file.once("open", () => resolve());
      file.once("error", reject);
    });
  } catch (error) {
    return jsonError(
      res,
      httpStatusFor(error),
      `error opening file '${path}': ${(error as Error).message}`,
    );
  }
  const headers: Record<string, string | number> = {
    "content-type": "application/octet-stream",
    "content-disposition": `inline; filename*=UTF-8''${encodeURIComponent(basename(path))}`,
    "last-modified": st.mtime.toUTCString(),
    vary: "Accept-Encoding",
  };
  if (encoding === "gzip") {
    headers["content-encoding"] = "gzip";
    res.writeHead(200, headers);
    await pipeline(file, createGzip(), res).catch(() => res.destroy());
  } else {
    if (bounded) headers["content-length"] = st.size;
    res.writeHead(200, headers);
    await pipeline(file, res).catch(() => res.destroy());
  }
}
