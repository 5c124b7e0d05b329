// sandbox.files: read and write files (text, bytes, blobs, streams of any size) through envd's
// /files, and list, stat, create, move, remove and watch through its filesystem service.
import { type Client, createClient } from "@connectrpc/connect";
import { Filesystem as FilesystemService } from "@wrenn/proto/filesystem";
import { failure } from "../api-client.js";
import type { ConnectionConfig } from "../connection-config.js";
import type { EnvdConnection } from "../envd/envd-connection.js";
import { KEEPALIVE_SECONDS } from "../envd/envd-connection.js";
import { errorFromBody, errorFromEnvd, isRecord } from "../error-mapping.js";
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
  UnexpectedResponseError,
} from "../errors.js";
import {
  type EntryInfo,
  entryOf,
  type FilesystemEvent,
  FileType,
  type WriteInfo,
} from "./entry-info.js";
import { WatchHandle } from "./watch-handle.js";

export interface FilesystemRequestOpts {
  /** Linux user whose permissions apply and whose home relative paths start from. */
  user?: string;
  /** Bound on the call (ms): for reads and writes, on the server's first answer only. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

export type ReadFormat = "text" | "bytes" | "blob" | "stream";

export interface FilesystemReadOpts extends FilesystemRequestOpts {
  format?: ReadFormat;
}

export interface FilesystemListOpts extends FilesystemRequestOpts {
  /** How deep to go (1: the directory's own entries). */
  depth?: number;
}

export interface WatchOpts extends FilesystemRequestOpts {
  recursive?: boolean;
  /** Put each event's EntryInfo in it (when the entry still exists). */
  includeEntry?: boolean;
  /** Stop after this many ms (default 0: until stop()). */
  timeoutMs?: number;
  /** Called once when the watch ends, with the error if it failed. */
  onExit?: (error?: Error) => unknown;
}

type RequestBody = NonNullable<RequestInit["body"]>;

export type WriteData = string | ArrayBuffer | ArrayBufferView | Blob | ReadableStream<Uint8Array>;

export interface WriteEntry {
  path: string;
  data: WriteData;
}

/** `sandbox.files`: paths are absolute, or relative to the user's home. */
export class Filesystem {
  private readonly rpc: Client<typeof FilesystemService>;

  constructor(
    private readonly envd: EnvdConnection,
    private readonly config: ConnectionConfig,
  ) {
    this.rpc = createClient(FilesystemService, envd.transport);
  }

  /** Reads a file: as text (default), bytes, a Blob, or a stream (for large files). */
  read(path: string, opts?: FilesystemReadOpts & { format?: "text" }): Promise<string>;
  read(path: string, opts: FilesystemReadOpts & { format: "bytes" }): Promise<Uint8Array>;
  read(path: string, opts: FilesystemReadOpts & { format: "blob" }): Promise<Blob>;
  read(
    path: string,
    opts: FilesystemReadOpts & { format: "stream" },
  ): Promise<ReadableStream<Uint8Array>>;
  async read(
    path: string,
    opts: FilesystemReadOpts = {},
  ): Promise<string | Uint8Array | Blob | ReadableStream<Uint8Array>> {
    checkPath(path);
    const response = await this.filesRequest("GET", path, opts);
    switch (opts.format ?? "text") {
      case "bytes":
        return new Uint8Array(await response.arrayBuffer());
      case "blob":
        return response.blob();
      case "stream":
        return response.body ?? new ReadableStream({ start: (c) => c.close() });
      default:
        return response.text();
    }
  }

  /**
   * Writes a file (parents created, an existing file replaced). Streams are sent as they are
   * read, so any size works. Several files: pass `[{ path, data }, ...]`.
   */
  write(path: string, data: WriteData, opts?: FilesystemRequestOpts): Promise<WriteInfo>;
  write(files: WriteEntry[], opts?: FilesystemRequestOpts): Promise<WriteInfo[]>;
  async write(
    pathOrFiles: string | WriteEntry[],
    dataOrOpts?: WriteData | FilesystemRequestOpts,
    maybeOpts?: FilesystemRequestOpts,
  ): Promise<WriteInfo | WriteInfo[]> {
    if (Array.isArray(pathOrFiles)) {
      const opts = (dataOrOpts ?? {}) as FilesystemRequestOpts;
      const written: WriteInfo[] = [];
      for (const file of pathOrFiles) written.push(await this.writeOne(file.path, file.data, opts));
      return written;
    }
    if (dataOrOpts === undefined) {
      throw new InvalidArgumentError("invalid_argument", "write(path, data): data is missing");
    }
    return this.writeOne(pathOrFiles, dataOrOpts as WriteData, maybeOpts ?? {});
  }

  /** Lists a directory's entries (`depth` levels deep). */
  async list(path: string, opts: FilesystemListOpts = {}): Promise<EntryInfo[]> {
    checkPath(path);
    const depth = opts.depth ?? 1;
    if (!Number.isInteger(depth) || depth < 1) {
      throw new InvalidArgumentError(
        "invalid_argument",
        `depth must be an integer >= 1, got ${depth}`,
      );
    }
    const res = await this.unary(() => this.rpc.listDir({ path, depth }, this.callOptions(opts)));
    return res.entries.map(entryOf).filter((e): e is EntryInfo => e !== undefined);
  }

  async exists(path: string, opts: FilesystemRequestOpts = {}): Promise<boolean> {
    try {
      await this.getInfo(path, opts);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async getInfo(path: string, opts: FilesystemRequestOpts = {}): Promise<EntryInfo> {
    checkPath(path);
    const res = await this.unary(() => this.rpc.stat({ path }, this.callOptions(opts)));
    return this.entry(res.entry, path);
  }

  /** Creates a directory and its parents. False if it already existed. */
  async makeDir(path: string, opts: FilesystemRequestOpts = {}): Promise<boolean> {
    checkPath(path);
    try {
      await this.unary(() => this.rpc.makeDir({ path }, this.callOptions(opts)));
      return true;
    } catch (error) {
      if (error instanceof ConflictError && error.code === "already_exists") return false;
      throw error;
    }
  }

  /** Renames or moves a file or directory. */
  async rename(
    oldPath: string,
    newPath: string,
    opts: FilesystemRequestOpts = {},
  ): Promise<EntryInfo> {
    checkPath(oldPath);
    checkPath(newPath);
    const res = await this.unary(() =>
      this.rpc.move({ source: oldPath, destination: newPath }, this.callOptions(opts)),
    );
    return this.entry(res.entry, newPath);
  }

  /** Removes a file, or a directory with everything in it. */
  async remove(path: string, opts: FilesystemRequestOpts = {}): Promise<void> {
    checkPath(path);
    await this.unary(() => this.rpc.remove({ path }, this.callOptions(opts)));
  }

  /**
   * Watches a directory; `onEvent` gets every change until `stop()` (or `timeoutMs`, which
   * ends the watch normally). A watch does not reconnect: if its stream breaks, `onExit` gets
   * the error.
   */
  async watchDir(
    path: string,
    onEvent: (event: FilesystemEvent) => unknown,
    opts: WatchOpts = {},
  ): Promise<WatchHandle> {
    checkPath(path);
    const controller = new AbortController();
    opts.signal?.addEventListener("abort", () => controller.abort(), { once: true });
    const timeoutMs = opts.timeoutMs ?? 0;
    const stream = this.rpc.watchDir(
      { path, recursive: opts.recursive ?? false, includeEntry: opts.includeEntry ?? false },
      {
        signal: controller.signal,
        headers: this.envd.rpcHeaders(opts.user, {
          "keepalive-ping-interval": String(KEEPALIVE_SECONDS),
          ...(timeoutMs > 0 ? { "connect-timeout-ms": String(Math.ceil(timeoutMs)) } : {}),
        }),
      },
    );
    const iterator = stream[Symbol.asyncIterator]();
    const requestTimeoutMs = opts.requestTimeoutMs ?? this.config.requestTimeoutMs;
    let timedOut = false;
    const late =
      requestTimeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, requestTimeoutMs)
        : undefined;
    try {
      const first = await iterator.next();
      if (first.done || first.value.event.case !== "start") {
        throw new UnexpectedResponseError(
          "protocol_error",
          "envd's watch stream did not begin with its start event",
        );
      }
    } catch (error) {
      controller.abort();
      if (timedOut) {
        throw new TimeoutError(
          "request_timeout",
          `envd did not start watching ${path} within ${requestTimeoutMs} ms (requestTimeoutMs)`,
        );
      }
      throw errorFromEnvd(error, "file");
    } finally {
      clearTimeout(late);
    }
    return new WatchHandle(controller, iterator, onEvent, opts.onExit, timeoutMs > 0);
  }

  private async writeOne(
    path: string,
    data: WriteData,
    opts: FilesystemRequestOpts,
  ): Promise<WriteInfo> {
    checkPath(path);
    const body = bodyOf(data);
    const response = await this.filesRequest("POST", path, opts, body);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const first = Array.isArray(parsed) ? parsed[0] : undefined;
    if (!isRecord(first) || typeof first.path !== "string" || typeof first.name !== "string") {
      throw new UnexpectedResponseError(
        "unexpected_response",
        `envd answered the upload of ${path} with ${text.slice(0, 120) || "nothing"}`,
      );
    }
    return { name: first.name, type: FileType.FILE, path: first.path };
  }

  /** GET or POST envd's /files; the timeout covers the wait for the answer, not the transfer. */
  private async filesRequest(
    method: "GET" | "POST",
    path: string,
    opts: FilesystemRequestOpts,
    body?: RequestBody,
  ): Promise<Response> {
    const params = new URLSearchParams({ path });
    if (opts.user !== undefined) params.set("username", opts.user);
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = opts.requestTimeoutMs ?? this.config.requestTimeoutMs;
    // An upload's answer comes after the whole body: bound only downloads' first answer.
    const late =
      method === "GET" && timeoutMs > 0
        ? setTimeout(() => controller.abort(), timeoutMs)
        : undefined;
    const streamed = typeof ReadableStream !== "undefined" && body instanceof ReadableStream;
    try {
      const response = await this.envd.fetch(`${this.envd.baseUrl}/files?${params}`, {
        method,
        signal: controller.signal,
        headers: method === "POST" ? { "content-type": "application/octet-stream" } : {},
        ...(body === undefined ? {} : { body }),
        // Node's fetch sends a stream body only when told it is half duplex.
        ...(streamed ? { duplex: "half" } : {}),
      } as RequestInit);
      // envd's /files errors are E2B-shaped ({code:int, message}); 404 means no such file.
      if (!response.ok) throw errorFromBody(response.status, await response.text().catch(() => ""));
      return response;
    } catch (error) {
      if (controller.signal.aborted && !opts.signal?.aborted) {
        throw new TimeoutError(
          "request_timeout",
          `no answer from the sandbox within ${timeoutMs} ms for ${path} (requestTimeoutMs)`,
        );
      }
      throw failure(error, { path, signal: opts.signal }, this.config.apiUrl);
    } finally {
      clearTimeout(late);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  private callOptions(opts: FilesystemRequestOpts) {
    return {
      headers: this.envd.rpcHeaders(opts.user),
      timeoutMs: opts.requestTimeoutMs ?? this.config.requestTimeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
  }

  private async unary<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw errorFromEnvd(error, "file");
    }
  }

  private entry(e: Parameters<typeof entryOf>[0] | undefined, path: string): EntryInfo {
    const entry = e ? entryOf(e) : undefined;
    if (!entry) {
      throw new UnexpectedResponseError(
        "unexpected_response",
        `envd gave no usable entry for ${path}`,
      );
    }
    return entry;
  }
}

function bodyOf(data: WriteData): RequestBody {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof Blob !== "undefined" && data instanceof Blob) return data;
  if (typeof ReadableStream !== "undefined" && data instanceof ReadableStream) return data;
  throw new InvalidArgumentError(
    "invalid_argument",
    "file data must be a string, ArrayBuffer, typed array, Blob or ReadableStream",
  );
}

function checkPath(path: string): void {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new InvalidArgumentError(
      "invalid_argument",
      "a path must be a non-empty string without NUL bytes",
    );
  }
}
