// E2B's template builder API (E2B-extensions.md §6): POST /v3/templates, upload links for
// COPY files, POST /v2/templates/{id}/builds/{bid} with the steps, build status with
// logsOffset, aliases. The builds themselves are the TemplateService's, as /v1/templates'.

import { isSnapshotId, TEMPLATE_STEP_LIMITS } from "@wrenn/contract";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { ServiceError } from "../../service/errors.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { e2bLogEntry, e2bStep } from "./template-views.js";

const config = { errorStyle: "e2b" as const };
const schema = { hide: true };
/** The upload route: reached through the signed link, without an API key. */
export const TEMPLATE_UPLOAD_PATH = "/templates/uploads";

type Req = FastifyRequest<{
  Params: Record<string, string>;
  Body: Record<string, unknown> | undefined;
  Querystring: Record<string, string>;
}>;

export const e2bTemplateRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { templates } = deps;

  app.post("/v3/templates", { config, schema }, async (request: Req, reply) => {
    const body = request.body ?? {};
    if (typeof body.name !== "string" && typeof body.alias !== "string") {
      throw new ServiceError("invalid_request", "name is required");
    }
    const nameTag = (body.name ?? body.alias) as string;
    const num = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined);
    const r = await templates.reservations.reserve(principalOf(request), nameTag, {
      cpuCount: num(body.cpuCount),
      memoryMB: num(body.memoryMB),
    });
    return reply.status(202).send({
      templateID: r.templateID,
      buildID: r.buildID,
      public: false,
      names: [`${r.name}:${r.tag}`],
      tags: [r.tag],
      aliases: [r.name],
    });
  });

  app.get("/templates/:templateID/files/:hash", { config, schema }, async (request: Req, reply) => {
    const principal = principalOf(request);
    const { templateID, hash } = request.params as { templateID: string; hash: string };
    await templates.reservations.reservedOrOwned(principal, templateID);
    if (await templates.files.present(principal.ownerId, hash)) {
      return reply.status(201).send({ present: true });
    }
    const base = `${request.protocol}://${request.host}`;
    const query = templates.files.sign(principal.ownerId, hash);
    return reply
      .status(201)
      .send({ present: false, url: `${base}${TEMPLATE_UPLOAD_PATH}?${query}` });
  });

  app.post(
    "/v2/templates/:templateID/builds/:buildID",
    { config, schema },
    async (request: Req, reply) => {
      const { templateID, buildID } = request.params as { templateID: string; buildID: string };
      const body = request.body ?? {};
      const str = (v: unknown, what: string) => {
        if (v === undefined || v === null || v === "") return undefined;
        if (typeof v !== "string")
          throw new ServiceError("invalid_request", `${what} must be a string`);
        return v;
      };
      const registry = body.fromImageRegistry as
        | { type?: string; username?: string; password?: string }
        | undefined;
      if (registry && registry.type !== "registry") {
        throw new ServiceError(
          "not_supported",
          `fromImageRegistry of type ${String(registry.type)} is not supported (use username/password)`,
        );
      }
      const fromImage = str(body.fromImage, "fromImage");
      const fromTemplate = str(body.fromTemplate, "fromTemplate");
      if (!fromImage && !fromTemplate) {
        throw new ServiceError("invalid_request", "fromImage or fromTemplate is required");
      }
      await templates.reservations.start(principalOf(request), templateID, buildID, {
        ...(fromImage ? { fromImage } : { fromTemplate }),
        steps: body.steps,
        ...(str(body.startCmd, "startCmd") ? { startCmd: body.startCmd as string } : {}),
        ...(str(body.readyCmd, "readyCmd") ? { readyCmd: body.readyCmd as string } : {}),
        // E2B's Template.build(..., {skipCache}) sends force: no cached layer is reused.
        ...(body.force === true ? { force: true } : {}),
        ...(registry?.username && registry.password
          ? { registry: { username: registry.username, password: registry.password } }
          : {}),
      });
      return reply.status(202).send(null);
    },
  );

  app.get(
    "/templates/:templateID/builds/:buildID/status",
    { config, schema },
    async (request: Req) => {
      const { templateID, buildID } = request.params as { templateID: string; buildID: string };
      const offset = Math.max(0, Number(request.query.logsOffset ?? 0) || 0);
      const limit = Math.min(100, Math.max(1, Number(request.query.limit ?? 100) || 100));
      const s = await templates.reservations.buildStatus(
        principalOf(request),
        templateID,
        buildID,
        offset,
        limit,
      );
      const entries = s.logs.map(e2bLogEntry);
      const row = s.row;
      return {
        templateID,
        buildID,
        status: s.status,
        logs: entries.map((e) => `[${e.timestamp}] ${e.message}`),
        logEntries: entries,
        ...(row?.status === "error"
          ? {
              reason: {
                message: row.errorMessage ?? row.errorCode ?? "the build failed",
                ...(e2bStep(row.errorStep) ? { step: e2bStep(row.errorStep) } : {}),
                logEntries: entries.filter((e) => e.level === "error"),
              },
            }
          : {}),
      };
    },
  );

  app.get("/templates/aliases/:alias", { config, schema }, async (request: Req) => {
    const row = await templates.findByName(principalOf(request), request.params.alias as string);
    if (!row)
      throw new ServiceError("template_not_found", `alias ${request.params.alias} not found`);
    return { templateID: row.templateId, public: false };
  });

  app.delete("/templates/:templateID", { config, schema }, async (request: Req, reply) => {
    const principal = principalOf(request);
    const id = request.params.templateID ?? "";
    // E2B's SDK deletes a snapshot through this route (Sandbox.deleteSnapshot).
    if (isSnapshotId(id)) {
      await deps.snapshots.delete(principal, id);
      return reply.status(204).send();
    }
    const row = await templates.getById(principal, id);
    await templates.delete(principal, `${row.name}:${row.tag}`);
    return reply.status(204).send();
  });
};

/** The signed upload link's PUT: no API key, the link's HMAC says who and what. */
export const e2bTemplateUploadRoute: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  // Whatever the client labels it (text/plain, none, octet-stream): the bytes as they came.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit: TEMPLATE_STEP_LIMITS.filesBytes },
    (_r, body, done) => done(null, body),
  );
  // The link is checked before the body is read: without a valid one, nobody can make the
  // control plane take in 256 MiB.
  const verified = new WeakMap<FastifyRequest, { ownerId: string; hash: string }>();
  app.addHook("onRequest", async (request) => {
    verified.set(request, deps.templates.files.verify(request.query as Record<string, string>));
  });
  app.put(
    TEMPLATE_UPLOAD_PATH,
    { config, schema, bodyLimit: TEMPLATE_STEP_LIMITS.filesBytes },
    async (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply) => {
      const { ownerId, hash } = verified.get(request) ?? deps.templates.files.verify(request.query);
      const body = request.body;
      if (!Buffer.isBuffer(body))
        throw new ServiceError("invalid_request", "the upload has no body");
      await deps.templates.files.put(ownerId, hash, body);
      return reply.status(200).send();
    },
  );
};
