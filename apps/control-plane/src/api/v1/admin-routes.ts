import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  ApiKeyIdParams,
  ApiKeyList,
  CreateApiKeyBody,
  CreatedApiKey,
  CurrentApiKey,
  commonErrors,
  HostList,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { apiKeyView, hostView, usageView } from "./views.js";

const security = [{ apiKey: [] }];

export const adminRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { keys, hosts } = deps;

  app.post(
    "/api-keys",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary: "Create an API key (admin); the key is in this response only",
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey, ...commonErrors },
      },
    },
    async (request, reply) => {
      const { record, key } = await keys.create(principalOf(request), request.body);
      return reply.status(201).send({ apiKey: apiKeyView(record), key });
    },
  );

  app.get(
    "/api-keys",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary: "List every API key (admin)",
        response: { 200: ApiKeyList, ...commonErrors },
      },
    },
    async (request) => ({ apiKeys: (await keys.list(principalOf(request))).map(apiKeyView) }),
  );

  app.get(
    "/api-keys/current",
    {
      schema: {
        tags: ["api keys"],
        security,
        summary: "The calling key, its pools and what its sandboxes use of them",
        response: { 200: CurrentApiKey, ...commonErrors },
      },
    },
    async (request) => {
      const { record, usage } = await keys.current(principalOf(request));
      return { apiKey: apiKeyView(record), usage: usageView(usage) };
    },
  );

  app.delete(
    "/api-keys/:id",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary: "Revoke an API key (admin; idempotent)",
        params: ApiKeyIdParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await keys.revoke(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/hosts",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary: "Hosts with their capacity, asked from each host agent now (admin)",
        response: { 200: HostList, ...commonErrors },
      },
    },
    async (request) => ({ hosts: (await hosts.list(principalOf(request))).map(hostView) }),
  );
};
