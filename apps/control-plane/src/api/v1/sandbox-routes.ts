import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreateSandboxBody,
  commonErrors,
  LIVE_STATES,
  ListSandboxesQuery,
  OwnedSandbox,
  ResumeBody,
  Sandbox,
  SandboxIdParams,
  SandboxPage,
  SandboxStats,
  TimeoutBody,
  UpdateNetworkBody,
} from "@wrenn/contract";
import { Type } from "typebox";
import { invalidRequest, ServiceError } from "../../service/errors.js";
import type { SandboxState } from "../../service/sandbox-types.js";
import { SANDBOX_STATES } from "../../service/sandbox-types.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { ownedSandboxView, sandboxView, statsView } from "./views.js";

const tags = ["sandboxes"];
const security = [{ apiKey: [] }];

function parseStates(values: string[] | undefined): readonly SandboxState[] | undefined {
  if (values === undefined) return LIVE_STATES;
  const states = values
    .flatMap((v) => v.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of states) {
    if (!SANDBOX_STATES.includes(s as SandboxState)) {
      throw invalidRequest(
        `unknown state ${JSON.stringify(s)}; states are ${SANDBOX_STATES.join(", ")}`,
      );
    }
  }
  return states as SandboxState[];
}

function parseMetadata(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const pair of values) {
    const at = pair.indexOf("=");
    if (at <= 0)
      throw invalidRequest(
        `metadata filters are key=value, got ${JSON.stringify(pair.slice(0, 60))}`,
      );
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export const sandboxRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sandboxes } = deps;

  app.post(
    "/sandboxes",
    {
      schema: {
        tags,
        security,
        summary: "Create a sandbox; returns once envd inside it answers",
        body: CreateSandboxBody,
        response: { 201: OwnedSandbox, ...commonErrors },
      },
    },
    async (request, reply) => {
      const sandbox = await sandboxes.create(principalOf(request), request.body);
      return reply.status(201).send(ownedSandboxView(sandbox));
    },
  );

  app.get(
    "/sandboxes",
    {
      schema: {
        tags,
        security,
        summary: "List your sandboxes, newest first, a page at a time",
        querystring: ListSandboxesQuery,
        response: { 200: SandboxPage, ...commonErrors },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await sandboxes.list(principalOf(request), {
        states: parseStates(q.state),
        // Asked for nothing in particular: old failed creates stay out of the way.
        hideFailedCreates: q.state === undefined,
        metadata: parseMetadata(q.metadata),
        template: q.template,
        startedAfter: q.startedAfter === undefined ? undefined : new Date(q.startedAfter),
        order: q.order,
        limit: q.limit,
        cursor: q.cursor,
      });
      return { sandboxes: page.sandboxes.map(sandboxView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/sandboxes/:id",
    {
      schema: {
        tags,
        security,
        summary: "Get a sandbox (stopped ones stay readable)",
        params: SandboxIdParams,
        response: { 200: OwnedSandbox, ...commonErrors },
      },
    },
    async (request) =>
      ownedSandboxView(await sandboxes.get(principalOf(request), request.params.id)),
  );

  app.delete(
    "/sandboxes/:id",
    {
      schema: {
        tags,
        security,
        summary: "Destroy a sandbox (idempotent)",
        params: SandboxIdParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await sandboxes.destroy(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/sandboxes/:id/pause",
    {
      config: { optionalBody: true },
      schema: {
        tags,
        security,
        summary: "Pause a running sandbox (memory kept on disk)",
        params: SandboxIdParams,
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: Sandbox, ...commonErrors },
      },
    },
    async (request) => sandboxView(await sandboxes.pause(principalOf(request), request.params.id)),
  );

  app.post(
    "/sandboxes/:id/hibernate",
    {
      config: { optionalBody: true },
      schema: {
        tags,
        security,
        summary:
          "Move a paused sandbox to the artifact store (state hibernated); resume brings it to any host with its template and CPU features",
        params: SandboxIdParams,
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: Sandbox, ...commonErrors },
      },
    },
    async (request) =>
      sandboxView(await sandboxes.hibernate(principalOf(request), request.params.id)),
  );

  app.post(
    "/sandboxes/:id/resume",
    {
      config: { optionalBody: true },
      schema: {
        tags,
        security,
        summary: "Resume a paused sandbox; for a running one, extend its end time only",
        params: SandboxIdParams,
        body: ResumeBody,
        response: { 200: OwnedSandbox, ...commonErrors },
      },
    },
    async (request) => {
      const { sandbox } = await sandboxes.resume(principalOf(request), request.params.id, {
        timeoutSeconds: request.body.timeoutSeconds,
      });
      return ownedSandboxView(sandbox);
    },
  );

  app.post(
    "/sandboxes/:id/timeout",
    {
      schema: {
        tags,
        security,
        summary: "Set the end time to now + timeoutSeconds (may shorten it)",
        params: SandboxIdParams,
        body: TimeoutBody,
        response: { 200: Sandbox, ...commonErrors },
      },
    },
    async (request) =>
      sandboxView(
        await sandboxes.setTimeout(
          principalOf(request),
          request.params.id,
          request.body.timeoutSeconds,
        ),
      ),
  );

  app.put(
    "/sandboxes/:id/network",
    {
      schema: {
        tags,
        security,
        summary:
          "Replace the egress policy of a running or paused sandbox, without a restart; open connections the new policy forbids are cut",
        params: SandboxIdParams,
        body: UpdateNetworkBody,
        response: { 200: Sandbox, ...commonErrors },
      },
    },
    async (request) =>
      sandboxView(
        await sandboxes.updateNetwork(principalOf(request), request.params.id, request.body),
      ),
  );

  app.get(
    "/sandboxes/:id/stats",
    {
      schema: {
        tags,
        security,
        summary: "Current CPU, memory and disk use of a running sandbox",
        params: SandboxIdParams,
        response: { 200: SandboxStats, ...commonErrors },
      },
    },
    async (request) => {
      const stats = await sandboxes.stats(principalOf(request), request.params.id);
      if (!stats) {
        throw new ServiceError(
          "sandbox_not_running",
          `sandbox ${request.params.id} is not running`,
        );
      }
      return statsView(stats);
    },
  );
};
