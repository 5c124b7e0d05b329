import type { ClientRequest, IncomingMessage } from "node:http";
import { basename } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { IO_LIMITS } from "@wrenn/contract";
import { type EntryInfo, FileType } from "@wrenn/proto/filesystem";
import { checkPath, checkUser } from "../commands/command-spec.js";
import { fromEnvdError, fromFilesStatus } from "../envd/envd-errors.js";
import type { EnvdGateway, EnvdSession } from "../envd/envd-session.js";
import { HostError } from "../hosts/host-client.js";
import type { AuditLog } from "../service/audit-log.js";
import { invalidRequest, ServiceError } from "../service/errors.js";
import { fromHostError } from "../service/host-refusal.js";
import type { Principal } from "../service/sandbox-types.js";

export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink";
  path: string;
  size: number;
  mode: number;
  permissions: string;
  owner: string;
  group: string;
  modifiedAt: string | null;
  symlinkTarget?: string;
}

export interface FileTarget {
  path: string;
  user?: string;
}

export interface Download {
  /** The file's bytes, streamed from envd; destroy it to stop early. */
  body: Readable;
  name: string;
  size?: number;
  lastModified?: string;
  /** Read from a failed sandbox's disk, not from envd. */
  fromDisk?: boolean;
}

const TYPES: Partial<Record<FileType, FileEntry["type"]>> = {
  [FileType.FILE]: "file",
  [FileType.DIRECTORY]: "directory",
  [FileType.SYMLINK]: "symlink",
};

export function entryView(e: EntryInfo): FileEntry | null {
  const type = TYPES[e.type];
  if (!type) return null;
  return {
    name: e.name,
    type,
    path: e.path,
    size: Number(e.size),
    mode: e.mode,
    permissions: e.permissions,
    owner: e.owner,
    group: e.group,
    modifiedAt: e.modifiedTime ? timestampDate(e.modifiedTime).toISOString() : null,
    ...(e.symlinkTarget !== undefined ? { symlinkTarget: e.symlinkTarget } : {}),
  };
}

/** Reads a small error or JSON body (envd's answers), never more than `max` bytes. */
async function readSmall(stream: Readable, max = 64 * 1024): Promise<string> {
  let text = "";
  for await (const chunk of stream) {
    if (text.length < max) text += String(chunk);
  }
  return text.slice(0, max);
}

function responseOf(request: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request.once("response", resolve);
    request.once("error", reject);
  });
}

/** Counts what passes through, for the audit trail. */
function byteCounter(): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      counter.bytes += chunk.byteLength;
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

/**
 * Files in sandboxes: streamed upload and download through envd's /files, and the filesystem
 * service for the rest. Nothing is buffered whole: a transfer holds at most a few chunks.
 */
export class FileService {
  constructor(
    private readonly gateway: EnvdGateway,
    private readonly audit: AuditLog,
  ) {}

  /** Writes `body` to the file (created with its parents, or overwritten). */
  async upload(
    principal: Principal,
    sandboxId: string,
    target: FileTarget,
    body: Readable,
    contentLength?: number,
  ): Promise<{ path: string; name: string; bytes: number }> {
    const { path, user } = this.check(target);
    const session = await this.gateway.open(principal, sandboxId, user);
    const began = performance.now();
    const counter = byteCounter();
    const request = session.filesRequest("POST", path, {
      "content-type": "application/octet-stream",
      ...(contentLength !== undefined ? { "content-length": String(contentLength) } : {}),
    });
    const response = responseOf(request);
    // The client's body is piped, not pipelined: an early refusal from envd must not destroy
    // the client's request (its connection carries our answer); a client that goes away must
    // end the upload.
    body.once("close", () => {
      if (!(body as Readable & { complete?: boolean }).complete && !counter.writableEnded)
        counter.destroy(new Error("the client went away during the upload"));
    });
    body.pipe(counter);
    const sending = pipeline(counter, request);
    sending.catch(() => {});
    try {
      const answer = await response;
      const text = await readSmall(answer);
      // envd may answer (an error) before it has read everything: then stop sending.
      if (answer.statusCode !== 200) {
        body.unpipe(counter);
        body.resume();
        request.destroy();
        throw fromFilesStatus(answer.statusCode ?? 502, text, `write ${path}`, answer.headers);
      }
      await sending;
      const written = parseUploaded(text);
      await this.record(principal, session, "sandbox.file.upload", began, "ok", {
        path: written.path,
        bytes: counter.bytes,
      });
      return { path: written.path, name: written.name, bytes: counter.bytes };
    } catch (error) {
      request.destroy();
      body.unpipe(counter);
      body.resume();
      const failure =
        error instanceof ServiceError
          ? error
          : new ServiceError("sandbox_unreachable", `write ${path}: ${describe(error)}`);
      await this.record(principal, session, "sandbox.file.upload", began, "error", {
        path,
        bytes: counter.bytes,
        error: failure.message,
      });
      throw failure;
    }
  }

  /**
   * Starts a download; the audit event is written when the transfer ends (or is cut). A failed
   * sandbox's file is read from its disk (the host agent's ReadStoppedFiles): `fromDisk` says so.
   */
  async download(principal: Principal, sandboxId: string, target: FileTarget): Promise<Download> {
    const { path, user } = this.check(target);
    let session: EnvdSession;
    try {
      session = await this.gateway.open(principal, sandboxId, user);
    } catch (error) {
      if (error instanceof ServiceError && error.code === "sandbox_failed")
        return this.fromDisk(principal, sandboxId, { path, user }, "file");
      throw error;
    }
    const began = performance.now();
    const request = session.filesRequest("GET", path, { "accept-encoding": "identity" });
    request.end();
    let answer: IncomingMessage;
    try {
      answer = await responseOf(request);
    } catch (error) {
      const failure = new ServiceError("sandbox_unreachable", `read ${path}: ${describe(error)}`);
      await this.record(principal, session, "sandbox.file.download", began, "error", {
        path,
        error: failure.message,
      });
      throw failure;
    }
    if (answer.statusCode !== 200) {
      const failure = fromFilesStatus(
        answer.statusCode ?? 502,
        await readSmall(answer),
        `read ${path}`,
        answer.headers,
      );
      await this.record(principal, session, "sandbox.file.download", began, "error", {
        path,
        error: failure.message,
      });
      throw failure;
    }
    const counter = byteCounter();
    const size = Number(answer.headers["content-length"]);
    pipeline(answer, counter).then(
      () =>
        this.record(principal, session, "sandbox.file.download", began, "ok", {
          path,
          bytes: counter.bytes,
        }),
      (error: unknown) =>
        this.record(principal, session, "sandbox.file.download", began, "error", {
          path,
          bytes: counter.bytes,
          error: `transfer cut: ${describe(error)}`,
        }),
    );
    const modified = answer.headers["last-modified"];
    return {
      body: counter,
      name: basename(path),
      ...(Number.isFinite(size) ? { size } : {}),
      ...(typeof modified === "string" ? { lastModified: modified } : {}),
    };
  }

  /**
   * A tar of a directory tree (or one file) of a failed sandbox, read from its disk; links are
   * stored as links. A sandbox in any other state is refused (409): a running one's files come
   * through envd, file by file.
   */
  archive(principal: Principal, sandboxId: string, target: FileTarget): Promise<Download> {
    return this.fromDisk(principal, sandboxId, this.check(target), "tar");
  }

  private async fromDisk(
    principal: Principal,
    sandboxId: string,
    target: { path: string; user?: string },
    format: "file" | "tar",
  ): Promise<Download> {
    const host = await this.gateway.failedHost(principal, sandboxId);
    const action = format === "tar" ? "sandbox.file.archive" : "sandbox.file.download";
    const began = performance.now();
    const audit = (outcome: "ok" | "error", detail: Record<string, unknown>) =>
      this.audit.record({
        actor: "api",
        ownerId: principal.ownerId,
        apiKeyId: principal.keyId,
        action,
        sandboxId: host.id,
        outcome,
        durationMs: performance.now() - began,
        detail: { path: target.path, user: target.user ?? null, fromDisk: true, ...detail },
      });
    let read: { path: string; body: Readable };
    try {
      read = await host.client.readStoppedFiles(host.id, { ...target, format });
    } catch (error) {
      const failure = diskReadFailure(error, host.id, target.path);
      await audit("error", { error: failure.message });
      throw failure;
    }
    const counter = byteCounter();
    pipeline(read.body, counter).then(
      () => audit("ok", { bytes: counter.bytes }),
      (error: unknown) =>
        audit("error", { bytes: counter.bytes, error: `transfer cut: ${describe(error)}` }),
    );
    const name = basename(read.path) || "root";
    return { body: counter, name: format === "tar" ? `${name}.tar` : name, fromDisk: true };
  }

  async list(
    principal: Principal,
    sandboxId: string,
    target: FileTarget & { depth?: number },
  ): Promise<FileEntry[]> {
    const depth = target.depth ?? IO_LIMITS.listDepth.default;
    if (!Number.isInteger(depth) || depth < 1 || depth > IO_LIMITS.listDepth.max)
      throw invalidRequest(`depth must be an integer from 1 to ${IO_LIMITS.listDepth.max}`);
    return this.rpc(
      principal,
      sandboxId,
      target,
      "sandbox.file.list",
      { depth },
      async (s, path) => {
        const { entries } = await s.filesystem.listDir({ path, depth });
        return entries.map(entryView).filter((e): e is FileEntry => e !== null);
      },
    );
  }

  stat(principal: Principal, sandboxId: string, target: FileTarget): Promise<FileEntry> {
    return this.rpc(principal, sandboxId, target, "sandbox.file.stat", {}, async (s, path) =>
      required(entryView(required((await s.filesystem.stat({ path })).entry))),
    );
  }

  mkdir(principal: Principal, sandboxId: string, target: FileTarget): Promise<FileEntry> {
    return this.rpc(principal, sandboxId, target, "sandbox.file.mkdir", {}, async (s, path) =>
      required(entryView(required((await s.filesystem.makeDir({ path })).entry))),
    );
  }

  remove(principal: Principal, sandboxId: string, target: FileTarget): Promise<void> {
    return this.rpc(principal, sandboxId, target, "sandbox.file.remove", {}, async (s, path) => {
      await s.filesystem.remove({ path });
    });
  }

  move(
    principal: Principal,
    sandboxId: string,
    target: FileTarget & { destination: string },
  ): Promise<FileEntry> {
    const destination = checkPath(target.destination, "to");
    return this.rpc(
      principal,
      sandboxId,
      target,
      "sandbox.file.move",
      { to: destination },
      async (s, path) =>
        required(
          entryView(required((await s.filesystem.move({ source: path, destination })).entry)),
        ),
    );
  }

  private check(target: FileTarget): { path: string; user?: string } {
    return { path: checkPath(target.path), user: checkUser(target.user) };
  }

  private async rpc<T>(
    principal: Principal,
    sandboxId: string,
    target: FileTarget,
    action: string,
    detail: Record<string, unknown>,
    call: (session: EnvdSession, path: string) => Promise<T>,
  ): Promise<T> {
    const { path, user } = this.check(target);
    const session = await this.gateway.open(principal, sandboxId, user);
    const began = performance.now();
    try {
      const result = await call(session, path);
      await this.record(principal, session, action, began, "ok", { path, ...detail });
      return result;
    } catch (error) {
      const failure = fromEnvdError(error, `${action.slice("sandbox.file.".length)} ${path}`);
      await this.record(principal, session, action, began, "error", {
        path,
        ...detail,
        error: failure.message,
      });
      throw failure;
    }
  }

  private record(
    principal: Principal,
    session: EnvdSession,
    action: string,
    began: number,
    outcome: "ok" | "error",
    detail: Record<string, unknown>,
  ): Promise<void> {
    return this.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action,
      sandboxId: session.sandbox.id,
      outcome,
      durationMs: performance.now() - began,
      detail: { ...detail, user: session.user ?? null },
    });
  }
}

function required<T>(value: T | null | undefined): T {
  if (value === null || value === undefined)
    throw new ServiceError("envd_error", "envd answered without the entry");
  return value;
}

function parseUploaded(text: string): { path: string; name: string } {
  try {
    const entries = JSON.parse(text) as { path?: unknown; name?: unknown }[];
    const first = entries[0];
    if (typeof first?.path === "string" && typeof first.name === "string")
      return { path: first.path, name: first.name };
  } catch {
    // Fall through.
  }
  throw new ServiceError("envd_error", "envd's answer to the upload was not understood");
}

/** A refusal of the disk read as the API says it; an agent that lost the sandbox lost its disk. */
function diskReadFailure(error: unknown, sandboxId: string, path: string): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof HostError) {
    if (error.kind === "not_found" && error.code === undefined)
      return new ServiceError(
        "files_unavailable",
        `the host of sandbox ${sandboxId} no longer holds its disk: ${error.message}`,
      );
    return fromHostError(error, `read ${path} from the sandbox's disk`);
  }
  return new ServiceError("host_error", `read ${path} from the sandbox's disk: ${describe(error)}`);
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));
