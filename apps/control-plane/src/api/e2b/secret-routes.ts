// E2B's /secrets (Secret.create/list/getInfo/update/exists/destroy in its SDK): write-only
// values named in network rules as ${e2b.secrets.NAME}. Same service as /v1/secrets.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { CreateSecretBody, SECRET_LIMITS, UpdateSecretBody } from "@wrenn/contract";
import { Type } from "typebox";
import type { SecretRow } from "../../store/secret-store.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { noStore, secretFields } from "../secret-responses.js";
import { E2bSecret, e2bErrors, SecretIdParams, SecretListQuery } from "./schemas.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };
const bodyLimit = SECRET_LIMITS.bodyBytes;

const e2bSecret = (row: SecretRow) => ({ secretID: row.id, ...secretFields(row) });

export const e2bSecretRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { secrets } = deps;
  noStore(app);

  app.get(
    "/secrets",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: the caller's secrets (never their values), oldest first; X-Next-Token",
        querystring: SecretListQuery,
        response: { 200: Type.Array(E2bSecret), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const page = await secrets.list(principalOf(request), {
        limit: request.query.limit,
        cursor: request.query.nextToken,
      });
      if (page.nextCursor) reply.header("x-next-token", page.nextCursor);
      return page.secrets.map(e2bSecret);
    },
  );

  app.post(
    "/secrets",
    {
      config,
      bodyLimit,
      schema: {
        tags,
        security,
        summary: "E2B: store a secret (version 1); 409 when the name is taken",
        body: CreateSecretBody,
        response: { 201: E2bSecret, ...e2bErrors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(e2bSecret(await secrets.create(principalOf(request), request.body))),
  );

  app.get(
    "/secrets/:secretID",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: one secret by id (sec_…) or name, without its value",
        params: SecretIdParams,
        response: { 200: E2bSecret, ...e2bErrors },
      },
    },
    async (request) => e2bSecret(await secrets.get(principalOf(request), request.params.secretID)),
  );

  app.post(
    "/secrets/:secretID",
    {
      config,
      bodyLimit,
      schema: {
        tags,
        security,
        summary: "E2B: a new version of a secret's value (metadata replaced when given)",
        params: SecretIdParams,
        body: UpdateSecretBody,
        response: { 200: E2bSecret, ...e2bErrors },
      },
    },
    async (request) =>
      e2bSecret(await secrets.update(principalOf(request), request.params.secretID, request.body)),
  );

  app.delete(
    "/secrets/:secretID",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: delete a secret and its value",
        params: SecretIdParams,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      await secrets.remove(principalOf(request), request.params.secretID);
      return reply.status(204).send(null);
    },
  );
};
