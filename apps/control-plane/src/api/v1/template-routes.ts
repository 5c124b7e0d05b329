import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreateTemplateBody,
  commonErrors,
  Template,
  TemplateBuild,
  TemplateBuildQuery,
  TemplateFileLink,
  TemplateFileParams,
  TemplateList,
  TemplateNameParams,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { ApiDeps } from "../api-deps.js";
import { TEMPLATE_UPLOAD_PATH } from "../e2b/template-routes.js";
import { principalOf } from "../request-context.js";

const tags = ["templates"];
const security = [{ apiKey: [] }];

/** /v1/templates: the owner's templates from OCI images; NAME means NAME:latest. */
export const templateRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { templates } = deps;

  app.post(
    "/templates",
    {
      schema: {
        tags,
        security,
        summary:
          "Build a template from an OCI image; answers 202 once the image is found, then builds on (follow GET /templates/{name}/build)",
        body: CreateTemplateBody,
        response: { 202: Template, ...commonErrors },
      },
    },
    async (request, reply) => {
      const t = await templates.create(principalOf(request), request.body);
      return reply.status(202).send(t);
    },
  );

  app.post(
    "/templates/files/:hash",
    {
      schema: {
        tags,
        security,
        summary:
          "Upload link for a COPY step's files (a tar, gzip or not, of paths relative to the build context)",
        params: TemplateFileParams,
        response: { 200: TemplateFileLink, ...commonErrors },
      },
    },
    async (request) => {
      const ownerId = principalOf(request).ownerId;
      const { hash } = request.params;
      if (await templates.files.present(ownerId, hash)) return { present: true };
      const query = templates.files.sign(ownerId, hash);
      return {
        present: false,
        url: `${request.protocol}://${request.host}${TEMPLATE_UPLOAD_PATH}?${query}`,
      };
    },
  );

  app.get(
    "/templates",
    {
      schema: {
        tags,
        security,
        summary: "List your templates",
        response: { 200: TemplateList, ...commonErrors },
      },
    },
    async (request) => ({ templates: await templates.list(principalOf(request)) }),
  );

  app.get(
    "/templates/:name",
    {
      schema: {
        tags,
        security,
        summary: "Get a template (NAME or NAME:TAG)",
        params: TemplateNameParams,
        response: { 200: Template, ...commonErrors },
      },
    },
    async (request) => templates.get(principalOf(request), request.params.name),
  );

  app.get(
    "/templates/:name/build",
    {
      schema: {
        tags,
        security,
        summary: "The latest build: status, step and log lines from logsOffset",
        params: TemplateNameParams,
        querystring: TemplateBuildQuery,
        response: { 200: TemplateBuild, ...commonErrors },
      },
    },
    async (request) =>
      templates.build(
        principalOf(request),
        request.params.name,
        request.query.logsOffset,
        request.query.limit,
      ),
  );

  app.post(
    "/templates/:name/cancel",
    {
      schema: {
        tags,
        security,
        summary:
          "Cancel the running build: its step is killed, nothing of it stays; answers once it has ended, with the template (status error, template_build_cancelled). 409 template_not_building when none runs",
        params: TemplateNameParams,
        response: { 200: Template, ...commonErrors },
      },
    },
    async (request) => templates.cancel(principalOf(request), request.params.name),
  );

  app.delete(
    "/templates/:name",
    {
      schema: {
        tags,
        security,
        summary: "Delete a template (409 template_in_use, naming the sandboxes, while any uses it)",
        params: TemplateNameParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await templates.delete(principalOf(request), request.params.name);
      return reply.status(204).send(null);
    },
  );
};
