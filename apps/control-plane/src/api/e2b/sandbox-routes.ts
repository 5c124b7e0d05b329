import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { sandboxNotFound } from "../../service/errors.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { parseE2bMetadataFilter } from "./metadata-filter.js";
import {
  created,
  detail,
  E2B_RUNNING,
  listed,
  notImplemented,
  parseStates,
  visible,
} from "./sandbox-views.js";
import {
  e2bErrors,
  ListedSandbox,
  ListQuery,
  NetworkUpdate,
  NewSandbox,
  Sandbox,
  SandboxDetail,
  SandboxIdParams,
  V1ListQuery,
} from "./schemas.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };

/** E2B's v1 list has no pages; Wrenn's service pages by this many. */
const V1_LIST_PAGE = 100;

export const e2bSandboxRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sandboxes } = deps;

  const createOptions = (summary: string) => ({
    config,
    schema: {
      tags,
      security,
      summary,
      body: NewSandbox,
      response: { 201: Sandbox, ...e2bErrors },
    },
  });
  // e2b <= 2.50.0, 1.x and the Python SDK create with POST /sandboxes; 2.51.0 with /v2.
  for (const [path, summary] of [
    ["/sandboxes", "E2B: create a sandbox (SDK <= 2.50, Python)"],
    ["/v2/sandboxes", "E2B: create a sandbox"],
  ] as const) {
    app.post(path, createOptions(summary), async (request, reply) => {
      const body = request.body;
      if (body.mcp !== undefined) throw notImplemented("The MCP gateway (Sandbox.create({ mcp }))");
      if (body.iam !== undefined) throw notImplemented("Workload identity (iam)");
      if (body.volumeMounts !== undefined && body.volumeMounts.length > 0)
        throw notImplemented("Volumes (volumeMounts)");
      if (body.autoPauseMemory === false)
        throw notImplemented("Pausing without memory (keepMemory: false)");
      const network = body.network as Record<string, unknown> | undefined;
      const known = ["allowOut", "denyOut", "allowPublicTraffic", "egressProxy", "rules"];
      const extra = Object.keys(network ?? {}).filter((k) => !known.includes(k));
      if (extra.length > 0) throw notImplemented(`network.${extra[0]}`);
      const sandbox = await sandboxes.create(principalOf(request), {
        template: body.templateID,
        timeoutSeconds: body.timeout,
        metadata: body.metadata,
        envVars: body.envVars,
        allowInternet: body.allow_internet_access,
        autoPause: body.autoPause,
        autoResume: body.autoResume?.enabled,
        network: {
          allowOut: body.network?.allowOut,
          denyOut: body.network?.denyOut,
          allowPublicTraffic: body.network?.allowPublicTraffic,
          egressProxy: body.network?.egressProxy,
          rules: body.network?.rules,
        },
      });
      return reply.status(201).send(created(sandbox, deps.domain?.name));
    });
  }

  app.get(
    "/v2/sandboxes",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: list running and paused sandboxes; X-Next-Token gives the next page",
        querystring: ListQuery,
        response: {
          200: Type.Array(ListedSandbox, {
            description:
              "X-Next-Token header carries the next page's token; absent on the last page",
          }),
          ...e2bErrors,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await sandboxes.list(principalOf(request), {
        states: parseStates(q.state),
        metadata: q.metadata === undefined ? undefined : parseE2bMetadataFilter(q.metadata),
        template: q.template,
        startedAfter: q.startedAfter === undefined ? undefined : new Date(q.startedAfter),
        order: q.order,
        limit: q.limit,
        cursor: q.nextToken,
      });
      if (page.nextCursor) reply.header("x-next-token", page.nextCursor);
      return page.sandboxes.map(listed);
    },
  );

  app.get(
    "/sandboxes",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B (v1, SDK 1.x): all running sandboxes, no pages",
        querystring: V1ListQuery,
        response: { 200: Type.Array(ListedSandbox), ...e2bErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const metadata =
        request.query.metadata === undefined
          ? undefined
          : parseE2bMetadataFilter(request.query.metadata);
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await sandboxes.list(principal, {
          states: E2B_RUNNING,
          metadata,
          limit: V1_LIST_PAGE,
          cursor,
        });
        all.push(...page.sandboxes.map(listed));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return all;
    },
  );

  app.get(
    "/sandboxes/:sandboxID",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: sandbox details",
        params: SandboxIdParams,
        response: { 200: SandboxDetail, ...e2bErrors },
      },
    },
    async (request) =>
      detail(
        await visible(deps, principalOf(request), request.params.sandboxID),
        deps.domain?.name,
      ),
  );

  app.put(
    "/sandboxes/:sandboxID/network",
    {
      config,
      schema: {
        tags,
        security,
        summary:
          "E2B: replace a sandbox's egress config (updateNetwork); omitted fields are cleared, forbidden open connections cut",
        params: SandboxIdParams,
        body: NetworkUpdate,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const principal = principalOf(request);
      await visible(deps, principal, request.params.sandboxID);
      await sandboxes.updateNetwork(principal, request.params.sandboxID, {
        allowInternet: body.allow_internet_access,
        network: {
          allowOut: body.allowOut,
          denyOut: body.denyOut,
          egressProxy: body.egressProxy,
          rules: body.rules,
        },
      });
      return reply.status(204).send(null);
    },
  );

  app.delete(
    "/sandboxes/:sandboxID",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: kill a sandbox",
        params: SandboxIdParams,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const { alreadyStopped } = await sandboxes.destroy(
        principalOf(request),
        request.params.sandboxID,
      );
      // E2B reports a second kill as not found; the SDK turns that into `false`.
      if (alreadyStopped) throw sandboxNotFound(request.params.sandboxID);
      return reply.status(204).send(null);
    },
  );
};
