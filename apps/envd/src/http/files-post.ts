import type { BigIntStats } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { drainUnusedBody, UNUSED_BODY_LIMITS } from "@wrenn/http-relay";
import busboy from "busboy";
import { actsAsItself, writeAsUser } from "../filesystem/as-user.js";
import { errnoOf, httpStatusFor } from "../filesystem/errno.js";
import {
  type MetadataError,
  type MetadataStore,
  validateMetadata,
} from "../filesystem/metadata.js";
import type { Logger } from "../log/logger.js";
import { ensureDirs, PathError, resolveUserPath } from "../paths/resolve.js";
import type { SandboxState } from "../state/sandbox-state.js";
import type { SystemUser } from "../users/passwd.js";
import { requestEncoding } from "./encoding.js";
import { authorizeFiles, HttpError } from "./files-access.js";
import { refuse } from "./refuse.js";
import { json, jsonError } from "./respond.js";

interface UploadedEntry {
  name: string;
  type: "file";
  path: string;
  metadata?: Record<string, string>;
}

const METADATA_PREFIX = "x-metadata-";

/** `X-Metadata-<key>: value` headers, keys lowercased (E2B envd >= 0.6.2). */
function metadataHeaders(req: IncomingMessage): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    if (!name.startsWith(METADATA_PREFIX)) continue;
    const key = name.slice(METADATA_PREFIX.length);
    if (key === "" || key in metadata) continue;
    metadata[key] = req.rawHeaders[i + 1] as string;
  }
  return metadata;
}

function uploadError(error: unknown, path: string): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof PathError) return new HttpError(400, error.message);
  const status = httpStatusFor(error);
  if (errnoOf(error)?.startsWith("Z_")) {
    return new HttpError(400, `error decompressing request body: ${(error as Error).message}`);
  }
  if (status === 507)
    return new HttpError(507, `not enough disk space available to write '${path}'`);
  return new HttpError(
    status === 404 ? 400 : status,
    `error writing file '${path}': ${(error as Error).message}`,
  );
}

/**
 * Writes one uploaded file, streaming: the body goes to disk as it arrives. Parent
 * directories are created for the user and the file ends up owned by the user.
 */
async function writeFile(
  path: string,
  body: Readable,
  user: SystemUser,
  metadata: Record<string, string>,
  store: MetadataStore,
  binDir: string,
): Promise<UploadedEntry> {
  try {
    if (!actsAsItself(user)) {
      await writeWithUserRights(path, body, user, binDir);
      return uploaded(path, await stat(path, { bigint: true }), metadata, store);
    }
    await ensureDirs(dirname(path), user.uid, user.gid);
    const existing = await stat(path).catch((error: unknown) => {
      if (errnoOf(error) === "ENOENT") return undefined;
      throw error;
    });
    if (existing?.isDirectory()) throw new HttpError(400, `path is a directory: ${path}`);
    const handle = await open(path, "w", 0o666);
    try {
      // Chown while open, so the file is the user's even if the write fails halfway.
      await handle.chown(user.uid, user.gid);
    } catch (error) {
      await handle.close();
      throw error;
    }
    const out = handle.createWriteStream();
    await pipeline(body, out);
    return uploaded(path, await stat(path, { bigint: true }), metadata, store);
  } catch (error) {
    body.resume();
    throw uploadError(error, path);
  }
}

function uploaded(
  path: string,
  st: BigIntStats,
  metadata: Record<string, string>,
  store: MetadataStore,
): UploadedEntry {
  store.set(st, metadata);
  const stored = Object.keys(metadata).length > 0 ? { ...metadata } : undefined;
  return { name: basename(path), type: "file", path, ...(stored ? { metadata: stored } : {}) };
}

/**
 * The write as the user (filesystem/as-user.ts): refused before any byte when the user may
 * not write there; the helper's own failure (ENOSPC, ...) wins over the broken pipe it causes.
 */
async function writeWithUserRights(
  path: string,
  body: Readable,
  user: SystemUser,
  binDir: string,
): Promise<void> {
  const write = await writeAsUser(binDir, user, path);
  const [sent] = await Promise.allSettled([pipeline(body, write.sink)]);
  if (sent.status === "rejected") write.cancel();
  // A body that cannot be decoded (bad gzip) is the request's fault, and the helper's end is
  // then our cancel: that error must not hide the 400 (seen as a 500 under a faster runsc,
  // where the helper's exit came first).
  if (sent.status === "rejected" && errnoOf(sent.reason)?.startsWith("Z_")) {
    await write.exited.catch(() => {});
    throw sent.reason;
  }
  await write.exited;
  if (sent.status === "rejected") throw sent.reason;
}

export async function handleFilesPost(
  req: IncomingMessage,
  res: ServerResponse,
  state: SandboxState,
  store: MetadataStore,
  log: Logger,
  binDir: string,
): Promise<void> {
  let access: ReturnType<typeof authorizeFiles>;
  try {
    access = authorizeFiles(req, state, "write");
  } catch (error) {
    // Refused before any of the body is read, and none of it will be.
    if (error instanceof HttpError)
      return refuse(req, res, error.status, error.message, error.headers);
    throw error;
  }
  try {
    const metadata = metadataHeaders(req);
    try {
      validateMetadata(metadata);
    } catch (error) {
      throw new HttpError(400, `invalid metadata: ${(error as MetadataError).message}`);
    }
    const coding = requestEncoding(req.headers["content-encoding"]);
    if (!coding) {
      throw new HttpError(
        400,
        `unsupported Content-Encoding: ${req.headers["content-encoding"]}, supported: gzip`,
      );
    }
    // The body is read through a stream of its own, never `req` itself: a failed write
    // (ENOSPC, EACCES) makes pipeline() destroy its source, and a destroyed request detaches
    // from a socket that has stopped reading with body bytes still unread, yet stays
    // keep-alive. The client's next request on that connection was then never answered.
    // This way `req` survives the failure and its unread rest is drained below.
    const decode = coding === "gzip" ? createGunzip() : new PassThrough();
    req.on("error", (error) => decode.destroy(error));
    const body: Readable = req.pipe(decode);
    const contentType =
      (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const resolve = (raw: string) => resolveUserPath(raw, access.user, state.defaultWorkdir);

    let entries: UploadedEntry[];
    if (contentType === "application/octet-stream") {
      if (access.path === undefined) {
        throw new HttpError(400, "path query parameter is required for raw body upload");
      }
      let target: string;
      try {
        target = resolve(access.path);
      } catch (error) {
        throw uploadError(error, access.path);
      }
      entries = [await writeFile(target, body, access.user, metadata, store, binDir)];
    } else if (contentType.startsWith("multipart/")) {
      entries = await multipartUpload(
        req,
        body,
        access.path,
        resolve,
        access.user,
        metadata,
        store,
        binDir,
      );
    } else {
      throw new HttpError(
        400,
        `unsupported content type: ${contentType || "(none)"}, expected multipart/form-data or application/octet-stream`,
      );
    }
    log.info({ files: entries.map((e) => e.path), user: access.user.username }, "files written");
    json(res, 200, entries);
  } catch (error) {
    const httpError = error instanceof HttpError ? error : uploadError(error, "");
    if (httpError.status >= 500) log.warn({ err: httpError.message }, "file upload failed");
    // What nobody read of the body (still arriving, or parsed and waiting in `req`: Node
    // leaves a piped request to its reader) is read within bounds, past which the connection
    // is reset, so the connection carries the client's next request.
    req.unpipe();
    if (!req.readableEnded && !res.headersSent) {
      drainUnusedBody(req, UNUSED_BODY_LIMITS, (socket) => socket.resetAndDestroy());
    }
    jsonError(res, httpError.status, httpError.message);
  }
}

/** The largest part without a file name (busboy holds such a part in memory). */
const FIELD_FILE_LIMIT = 64 * 1024 * 1024;

function multipartUpload(
  req: IncomingMessage,
  body: Readable,
  queryPath: string | undefined,
  resolve: (raw: string) => string,
  user: SystemUser,
  metadata: Record<string, string>,
  store: MetadataStore,
  binDir: string,
): Promise<UploadedEntry[]> {
  return new Promise((done, fail) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        preservePath: true,
        defParamCharset: "utf8",
        // A part without a file name arrives as a field: latin1 keeps its bytes as they were.
        defCharset: "latin1",
        limits: {
          fieldSize: FIELD_FILE_LIMIT,
          fields: 1000,
          parts: 10_000,
          headerPairs: 200,
        },
      });
    } catch (error) {
      fail(new HttpError(400, `error parsing multipart form: ${(error as Error).message}`));
      return;
    }
    const results: Promise<UploadedEntry>[] = [];
    const seen = new Set<string>();
    let failed = false;
    const abort = (error: unknown) => {
      if (failed) return;
      failed = true;
      body.unpipe(parser);
      body.resume();
      fail(error);
    };
    const accept = (raw: string, stream: Readable) => {
      let target: string;
      try {
        target = resolve(raw);
      } catch (error) {
        stream.resume();
        abort(uploadError(error, raw));
        return;
      }
      if (seen.has(target)) {
        stream.resume();
        abort(
          new HttpError(
            400,
            `you cannot upload multiple files to the same path '${target}' in one upload request`,
          ),
        );
        return;
      }
      seen.add(target);
      const result = writeFile(target, stream, user, metadata, store, binDir);
      result.catch(abort);
      results.push(result);
    };
    parser.on("file", (field, stream, info) => {
      if (failed || field !== "file") {
        stream.resume();
        return;
      }
      accept(queryPath ?? info.filename ?? "", stream);
    });
    // E2B's envd takes every part named "file", with or without a file name (a signed upload
    // from a plain form, say); busboy reports one without a file name as a field.
    parser.on("field", (field, value, info) => {
      if (failed || field !== "file") return;
      if (queryPath === undefined) {
        abort(new HttpError(400, "a file part without a file name needs the path query parameter"));
        return;
      }
      if (info.valueTruncated) {
        abort(
          new HttpError(
            413,
            `a file part without a file name is limited to ${FIELD_FILE_LIMIT} bytes; give it a file name or upload application/octet-stream`,
          ),
        );
        return;
      }
      accept(queryPath, Readable.from([Buffer.from(value, "latin1")]));
    });
    parser.on("error", (error: Error) =>
      abort(new HttpError(400, `error reading form: ${error.message}`)),
    );
    parser.on("close", () => {
      if (failed) return;
      Promise.all(results).then(done, abort);
    });
    body.on("error", (error) =>
      abort(new HttpError(400, `error reading request body: ${error.message}`)),
    );
    body.pipe(parser);
  });
}
