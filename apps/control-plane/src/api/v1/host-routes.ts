import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreatedHostToken,
  CreateHostTokenBody,
  commonErrors,
  HostCredentials,
  HostHeartbeatBody,
  RefreshHostBody,
  RegisteredHostCredentials,
  RegisterHostBody,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

const security = [{ apiKey: [] }];

/** Admin routes for hosts joining (under /v1, behind the API key). */
export const hostAdminRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { enrollment } = deps;
  app.post(
    "/hosts/tokens",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary:
          "Create a one-time host registration token (admin); the token is in this response only",
        body: Type.Optional(CreateHostTokenBody),
        response: { 201: CreatedHostToken, ...commonErrors },
      },
    },
    async (request, reply) => {
      const created = await enrollment.createToken(
        principalOf(request),
        request.body?.expiresInSeconds,
      );
      return reply.status(201).send({ ...created, expiresAt: created.expiresAt.toISOString() });
    },
  );
};

/**
 * What host agents call (under /v1, without an API key): register with a registration token,
 * refresh with a refresh token, heartbeat with the JWT (Authorization: Bearer).
 */
export const hostAgentRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { enrollment } = deps;
  const tags = ["host agents"];

  app.post(
    "/hosts/register",
    {
      schema: {
        tags,
        summary: "Register a host agent with a one-time registration token",
        body: RegisterHostBody,
        response: { 201: RegisteredHostCredentials, ...commonErrors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await enrollment.register(request.body.token, request.body.url)),
  );

  app.post(
    "/hosts/refresh",
    {
      schema: {
        tags,
        summary: "New credentials for a host's refresh token (which is spent)",
        body: RefreshHostBody,
        response: { 200: HostCredentials, ...commonErrors },
      },
    },
    async (request) => enrollment.refresh(request.body.hostId, request.body.refreshToken),
  );

  app.post(
    "/hosts/heartbeat",
    {
      // The JWT is checked before the body is read.
      onRequest: async (request) => {
        request.hostId = await enrollment.authenticate(request.headers.authorization);
      },
      schema: {
        tags,
        summary: "A registered host's heartbeat (Authorization: Bearer <its JWT>)",
        body: HostHeartbeatBody,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await enrollment.heartbeat(request.hostId as string, request.body);
      return reply.status(204).send(null);
    },
  );
};

declare module "fastify" {
  interface FastifyRequest {
    /** The registered host a heartbeat's JWT speaks for. */
    hostId?: string;
  }
}
