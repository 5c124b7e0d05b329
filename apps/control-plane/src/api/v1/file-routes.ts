import type { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  commonErrors,
  FILES_RESCUE_LIMITS,
  FileEntry,
  FileList,
  FileQuery,
  IO_LIMITS,
  ListQuery,
  MoveBody,
  PathBody,
  SandboxIdParams,
  Uploaded,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

const tags = ["files"];
const security = [{ apiKey: [] }];
const fileErrors = { ...commonErrors, 406: commonErrors[400]!, 507: commonErrors[400]! };

export const fileRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { files } = deps;

  // Uploads stream straight to envd: the body is handed over unread, whatever its type, and
  // no body limit applies (the sandbox's disk is the limit; envd answers 507 when it is full).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  app.put(
    "/sandboxes/:id/files",
    {
      schema: {
        tags,
        security,
        summary: "Upload a file (the raw request body), streamed",
        description:
          "Creates the file and its parent directories, or overwrites it. Send the bytes as the request body (any content type, e.g. application/octet-stream); it is streamed to the sandbox without being buffered, so files of any size fit.",
        params: SandboxIdParams,
        querystring: FileQuery,
        response: { 200: Uploaded, ...fileErrors },
      },
    },
    async (request) => {
      const length = Number(request.headers["content-length"]);
      return files.upload(
        principalOf(request),
        request.params.id,
        request.query,
        request.body as Readable,
        Number.isSafeInteger(length) && length >= 0 ? length : undefined,
      );
    },
  );

  app.get(
    "/sandboxes/:id/files",
    {
      schema: {
        tags,
        security,
        summary: "Download a file, streamed",
        description:
          "From a running sandbox through envd. From a failed sandbox (state error: its processes are gone, its disk is kept) the file is read from its disk by a read-only gVisor container on its host, one read at a time per sandbox, bounded by FILES_RESCUE_LIMITS; a link is followed inside the sandbox, never on the host. 409 files_unavailable when the disk is gone, 404 once the sandbox is destroyed.",
        params: SandboxIdParams,
        querystring: FileQuery,
        response: {
          200: Type.Unsafe({ type: "string", format: "binary", description: "The file's bytes" }),
          ...fileErrors,
        },
      },
    },
    async (request, reply) => {
      const download = await files.download(principalOf(request), request.params.id, request.query);
      reply.header("content-type", "application/octet-stream");
      reply.header(
        "content-disposition",
        `attachment; filename*=UTF-8''${encodeURIComponent(download.name)}`,
      );
      if (download.size !== undefined) reply.header("content-length", String(download.size));
      if (download.lastModified) reply.header("last-modified", download.lastModified);
      return reply.send(download.body);
    },
  );

  app.get(
    "/sandboxes/:id/archive",
    {
      schema: {
        tags,
        security,
        summary: "Download a failed sandbox's directory tree as a tar, streamed",
        description: `For a sandbox in state error (its processes are gone, its disk is kept): a tar (uncompressed) of the path and everything under it, named relative to the path's parent; links are stored as links, never followed; other file systems (/proc, /dev) are left out. Read from its disk by a read-only gVisor container on its host, one read at a time per sandbox, at most ${FILES_RESCUE_LIMITS.outputBytes} bytes and ${FILES_RESCUE_LIMITS.timeoutSeconds} s (past either the transfer is cut). 409 for a sandbox in any other state (a running one's files come through /files), 409 files_unavailable when its disk is gone, 404 once it is destroyed.`,
        params: SandboxIdParams,
        querystring: FileQuery,
        response: {
          200: Type.Unsafe({ type: "string", format: "binary", description: "A tar archive" }),
          ...fileErrors,
        },
      },
    },
    async (request, reply) => {
      const download = await files.archive(principalOf(request), request.params.id, request.query);
      reply.header("content-type", "application/x-tar");
      reply.header(
        "content-disposition",
        `attachment; filename*=UTF-8''${encodeURIComponent(download.name)}`,
      );
      return reply.send(download.body);
    },
  );

  app.delete(
    "/sandboxes/:id/files",
    {
      schema: {
        tags,
        security,
        summary: "Remove a file or a directory (recursively)",
        params: SandboxIdParams,
        querystring: FileQuery,
        response: { 204: Type.Null(), ...fileErrors },
      },
    },
    async (request, reply) => {
      await files.remove(principalOf(request), request.params.id, request.query);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/sandboxes/:id/files/list",
    {
      schema: {
        tags,
        security,
        summary: "List a directory (depth 1 by default)",
        description: `One listing returns at most ${IO_LIMITS.listEntries} entries and ${IO_LIMITS.listNameBytes} bytes of paths and symlink targets; past either it is refused whole (400 invalid_request), never cut short: list a subdirectory, or ask for a smaller depth.`,
        params: SandboxIdParams,
        querystring: ListQuery,
        response: { 200: FileList, ...fileErrors },
      },
    },
    async (request) => ({
      entries: await files.list(principalOf(request), request.params.id, request.query),
    }),
  );

  app.get(
    "/sandboxes/:id/files/stat",
    {
      schema: {
        tags,
        security,
        summary: "Describe a file or directory",
        params: SandboxIdParams,
        querystring: FileQuery,
        response: { 200: FileEntry, ...fileErrors },
      },
    },
    async (request) => files.stat(principalOf(request), request.params.id, request.query),
  );
};

/** JSON-bodied file operations, in the API's ordinary JSON context. */
export const fileJsonRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { files } = deps;

  app.post(
    "/sandboxes/:id/files/mkdir",
    {
      schema: {
        tags,
        security,
        summary: "Create a directory and its parents (409 already_exists if it exists)",
        params: SandboxIdParams,
        body: PathBody,
        response: { 201: FileEntry, ...fileErrors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await files.mkdir(principalOf(request), request.params.id, request.body)),
  );

  app.post(
    "/sandboxes/:id/files/move",
    {
      schema: {
        tags,
        security,
        summary: "Rename or move a file or directory",
        params: SandboxIdParams,
        body: MoveBody,
        response: { 200: FileEntry, ...fileErrors },
      },
    },
    async (request) =>
      files.move(principalOf(request), request.params.id, {
        path: request.body.from,
        destination: request.body.to,
        user: request.body.user,
      }),
  );
};
