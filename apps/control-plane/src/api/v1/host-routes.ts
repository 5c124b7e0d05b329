import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreatedHostToken,
  CreateHostTokenBody,
  commonErrors,
  DeletedHost,
  DeleteHostQuery,
  HOST_DRAIN_NOTE,
  HostCredentials,
  HostDrain,
  HostHeartbeatBody,
  HostIdParams,
  RefreshHostBody,
  RegisteredHostCredentials,
  RegisterHostBody,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { hostView } from "./views.js";

const security = [{ apiKey: [] }];

/** Admin routes for hosts joining, draining and leaving (under /v1, behind the API key). */
export const hostAdminRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { enrollment, hosts } = deps;
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

  app.delete(
    "/hosts/:id",
    {
      config: { adminOnly: true },
      schema: {
        tags: ["admin"],
        security,
        summary:
          "Delete a registered host (admin): 409 host_in_use listing its sandboxes, unless force=true destroys them first; its agent must register again with a new token",
        params: HostIdParams,
        querystring: DeleteHostQuery,
        response: { 200: DeletedHost, ...commonErrors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const done = await hosts.delete(principalOf(request), id, request.query.force === true);
      return { id, ...done };
    },
  );

  for (const [action, drained] of [
    ["drain", true],
    ["undrain", false],
  ] as const) {
    app.post(
      `/hosts/:id/${action}`,
      {
        config: { adminOnly: true },
        schema: {
          tags: ["admin"],
          security,
          summary: drained
            ? "Drain a host (admin): no new sandboxes go there; those it holds keep running, and paused ones are hibernated to the artifact store in the background (they resume on another host). Idempotent"
            : "Undrain a host (admin): it takes new sandboxes again. Idempotent",
          params: HostIdParams,
          response: { 200: HostDrain, ...commonErrors },
        },
      },
      async (request) => {
        const r = await hosts.setDrained(principalOf(request), request.params.id, drained);
        const note = drained ? HOST_DRAIN_NOTE : "the host takes new sandboxes again";
        return { host: hostView(r.host), pausedSandboxes: r.pausedSandboxes, note };
      },
    );
  }
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
