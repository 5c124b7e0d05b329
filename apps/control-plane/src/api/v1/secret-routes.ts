import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreateSecretBody,
  commonErrors,
  ListSecretsQuery,
  SECRET_LIMITS,
  Secret,
  SecretPage,
  SecretRefParams,
  UpdateSecretBody,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { SecretRow } from "../../store/secret-store.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { noStore, secretFields } from "../secret-responses.js";

const tags = ["secrets"];
const security = [{ apiKey: [] }];
const bodyLimit = SECRET_LIMITS.bodyBytes;

const view = (row: SecretRow) => ({ id: row.id, ...secretFields(row) });

/**
 * /v1/secrets: write-only values that network rules' header values name as
 * `${e2b.secrets.NAME}`, filled in at egress so they never enter a sandbox.
 */
export const secretRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { secrets } = deps;
  noStore(app);

  app.get(
    "/secrets",
    {
      schema: {
        tags,
        security,
        summary: "Your secrets (never their values), oldest first",
        querystring: ListSecretsQuery,
        response: { 200: SecretPage, ...commonErrors },
      },
    },
    async (request) => {
      const page = await secrets.list(principalOf(request), request.query);
      return { secrets: page.secrets.map(view), nextCursor: page.nextCursor ?? null };
    },
  );

  app.post(
    "/secrets",
    {
      bodyLimit,
      schema: {
        tags,
        security,
        summary:
          "Store a secret (version 1); 409 secret_name_taken, 429 too_many_secrets, 403 secrets_disabled",
        body: CreateSecretBody,
        response: { 201: Secret, ...commonErrors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(view(await secrets.create(principalOf(request), request.body))),
  );

  app.get(
    "/secrets/:secret",
    {
      schema: {
        tags,
        security,
        summary: "One secret by id (sec_…) or name, without its value",
        params: SecretRefParams,
        response: { 200: Secret, ...commonErrors },
      },
    },
    async (request) => view(await secrets.get(principalOf(request), request.params.secret)),
  );

  app.post(
    "/secrets/:secret",
    {
      bodyLimit,
      schema: {
        tags,
        security,
        summary: "A new version of a secret's value (metadata replaced when given, else kept)",
        params: SecretRefParams,
        body: UpdateSecretBody,
        response: { 200: Secret, ...commonErrors },
      },
    },
    async (request) =>
      view(await secrets.update(principalOf(request), request.params.secret, request.body)),
  );

  app.delete(
    "/secrets/:secret",
    {
      schema: {
        tags,
        security,
        summary: "Delete a secret and its value",
        params: SecretRefParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await secrets.remove(principalOf(request), request.params.secret);
      return reply.status(204).send(null);
    },
  );
};
