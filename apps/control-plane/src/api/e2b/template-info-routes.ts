// E2B's template routes around the builds (E2B-extensions.md §6): list, one template with its
// builds, update (public), tags (assign, remove, list) and a build's logs. Shapes as E2B's
// SDK and CLI send and read them; the records are the TemplateService's, as /v1/templates'.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  AssignTemplateTagsBody,
  DeleteTemplateTagsBody,
  E2bAssignedTemplateTags,
  E2bTemplate,
  E2bTemplateBuildLogs,
  E2bTemplateTag,
  E2bTemplateUpdated,
  E2bTemplateWithBuilds,
  TEMPLATE_LOGS_PAGE,
  TemplateBuildLogsQuery,
  TemplateBuildParams,
  TemplateIdParams,
  TemplatePageQuery,
  TemplateUpdateBody,
} from "@wrenn/contract";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Static, Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import type { TemplateRecord } from "../../store/template-store.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { e2bErrors } from "./schemas.js";
import { e2bLogEntry, e2bTemplate, e2bTemplateWithBuilds } from "./template-views.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };

/** X-Next-Token of a template list: the last NAME:TAG given, opaque to the client. */
const pageToken = (row: TemplateRecord) =>
  Buffer.from(`${row.name}:${row.tag}`).toString("base64url");
function afterToken(token: string): (row: TemplateRecord) => boolean {
  const [name, tag] = Buffer.from(token, "base64url").toString().split(":");
  if (!name || !tag) {
    throw new ServiceError("invalid_request", "nextToken is not one this server gave; start over");
  }
  return (row) => row.name > name || (row.name === name && row.tag > tag);
}

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

export const e2bTemplateInfoRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { templates } = deps;

  const list = async (
    request: FastifyRequest<{ Querystring: Static<typeof TemplatePageQuery> }>,
    reply: FastifyReply,
  ) => {
    const principal = principalOf(request);
    const limit = request.query.limit ?? 100;
    const all = await templates.records(principal);
    const after = request.query.nextToken ? afterToken(request.query.nextToken) : () => true;
    const rows = all.filter(after);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    if (rows.length > limit && last) reply.header("x-next-token", pageToken(last));
    const usage = await templates.usage(principal, page);
    return page.map((row) => e2bTemplate(row, usage.get(row.id)));
  };
  const listSchema = {
    tags,
    security,
    summary: "E2B: the caller's templates, one per NAME:TAG, by name; X-Next-Token",
    querystring: TemplatePageQuery,
    response: { 200: Type.Array(E2bTemplate), ...e2bErrors },
  };
  app.get("/v2/templates", { config, schema: listSchema }, list);
  // E2B's deprecated v1 list: the same answer.
  app.get("/templates", { config, schema: { ...listSchema, deprecated: true } }, list);

  app.get(
    "/templates/:templateID",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: a template (by id or NAME[:TAG]) with its builds",
        params: TemplateIdParams,
        querystring: TemplatePageQuery,
        response: { 200: E2bTemplateWithBuilds, ...e2bErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const row = await templates.tags.resolve(principal, request.params.templateID);
      const usage = await templates.usage(principal, [row]);
      return e2bTemplateWithBuilds(row, usage.get(row.id));
    },
  );

  const update = async (
    request: FastifyRequest,
    templateID: string,
    body: Static<typeof TemplateUpdateBody>,
  ) => {
    const principal = principalOf(request);
    const row = await templates.tags.resolve(principal, templateID);
    if (body.public === true) {
      throw new ServiceError(
        "not_supported",
        "public templates are not supported: a Wrenn template belongs to its owner alone; build it with the other owner's key to share it",
      );
    }
    return { names: [`${row.name}:${row.tag}`] };
  };
  const updateSchema = {
    tags,
    security,
    params: TemplateIdParams,
    body: TemplateUpdateBody,
  };
  app.patch(
    "/v2/templates/:templateID",
    {
      config,
      schema: {
        ...updateSchema,
        summary: "E2B: update a template; {public: true} is refused (templates are private)",
        response: { 200: E2bTemplateUpdated, ...e2bErrors },
      },
    },
    (request) => update(request, request.params.templateID, request.body),
  );
  app.patch(
    "/templates/:templateID",
    {
      config,
      schema: {
        ...updateSchema,
        deprecated: true,
        summary: "E2B (deprecated v1): update a template",
        response: { 200: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      await update(request, request.params.templateID, request.body);
      return reply.status(200).send(null);
    },
  );

  app.post(
    "/templates/tags",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: name the build of target (NAME:TAG) with more tags",
        body: AssignTemplateTagsBody,
        response: { 201: E2bAssignedTemplateTags, ...e2bErrors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          await templates.tags.assign(principalOf(request), request.body.target, request.body.tags),
        ),
  );

  app.delete(
    "/templates/tags",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: remove tags of template name (all of them exist, or nothing is removed)",
        body: DeleteTemplateTagsBody,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      await templates.tags.remove(principalOf(request), request.body.name, request.body.tags);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/templates/:templateID/tags",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: the tags of a template (by id, NAME or NAME:TAG) and their builds",
        params: TemplateIdParams,
        response: { 200: Type.Array(E2bTemplateTag), ...e2bErrors },
      },
    },
    async (request) =>
      (await templates.tags.list(principalOf(request), request.params.templateID)).map((row) => ({
        tag: row.tag,
        buildID: row.buildId,
        createdAt: row.createdAt.toISOString(),
      })),
  );

  app.get(
    "/templates/:templateID/builds/:buildID/logs",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: a build's log lines from cursor (ms) forward, or back from it newest first",
        params: TemplateBuildParams,
        querystring: TemplateBuildLogsQuery,
        response: { 200: E2bTemplateBuildLogs, ...e2bErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { templateID, buildID } = request.params;
      const row = await templates.getBuild(principal, templateID, buildID);
      const q = request.query;
      const min = LEVELS[q.level ?? "debug"];
      const backward = q.direction === "backward";
      const cursor = q.cursor ?? (backward ? Number.MAX_SAFE_INTEGER : 0);
      const lines = (await templates.allLogs(row)).filter((l) => {
        const at = Date.parse(l.timestamp);
        return LEVELS[l.level] >= min && (backward ? at <= cursor : at >= cursor);
      });
      if (backward) lines.reverse();
      return { logs: lines.slice(0, q.limit ?? TEMPLATE_LOGS_PAGE).map(e2bLogEntry) };
    },
  );
};
