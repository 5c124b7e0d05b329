import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { E2B_STATE_GROUPS, e2bStateOf } from "@wrenn/contract";
import { Type } from "typebox";
import { invalidRequest, ServiceError, sandboxNotFound } from "../../service/errors.js";
import type {
  Principal,
  SandboxState,
  Sandbox as WrennSandbox,
} from "../../service/sandbox-types.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { parseE2bMetadataFilter } from "./metadata-filter.js";
import {
  ConnectBody,
  e2bErrors,
  ListedSandbox,
  ListQuery,
  MetricsQuery,
  NewSandbox,
  PauseBody,
  Sandbox,
  SandboxDetail,
  SandboxIdParams,
  SandboxMetric,
  TimeoutBody,
} from "./schemas.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };

// E2B knows two states; the grouping is the contract's (E2B_STATE_GROUPS).
const E2B_RUNNING: readonly SandboxState[] = E2B_STATE_GROUPS.running;
const E2B_PAUSED: readonly SandboxState[] = E2B_STATE_GROUPS.paused;
const E2B_VISIBLE = [...E2B_RUNNING, ...E2B_PAUSED];
const CLIENT_ID = "wrenn";
const E2B_CONNECT_TIMEOUT_SECONDS = 300;

const e2bState = e2bStateOf;

const notSupported = (what: string) =>
  new ServiceError("not_supported", `${what} is not supported by this Wrenn server`);

function listed(s: WrennSandbox) {
  return {
    sandboxID: s.id,
    templateID: s.template,
    alias: s.template,
    clientID: CLIENT_ID,
    cpuCount: s.resources.vcpus,
    memoryMB: s.resources.memoryMb,
    diskSizeMB: s.resources.diskMb,
    // Only sandboxes that never started lack a version; E2B's SDK needs a semver here.
    envdVersion: s.envdVersion ?? "0.0.0",
    startedAt: s.startedAt.toISOString(),
    endAt: s.endAt.toISOString(),
    state: e2bState(s.state),
    metadata: s.metadata,
    volumeMounts: [],
  };
}

function created(s: WrennSandbox & { envdAccessToken: string }) {
  return {
    sandboxID: s.id,
    templateID: s.template,
    alias: s.template,
    clientID: CLIENT_ID,
    envdVersion: s.envdVersion ?? "0.0.0",
    envdAccessToken: s.envdAccessToken,
    // The SDK would turn a domain into https://49983-<id>.<domain>; clients set E2B_SANDBOX_URL.
    domain: null,
  };
}

function parseStates(values: string[] | undefined): SandboxState[] {
  if (values === undefined) return E2B_VISIBLE;
  const states = new Set<SandboxState>();
  for (const value of values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean)) {
    if (value === "running") for (const s of E2B_RUNNING) states.add(s);
    else if (value === "paused") for (const s of E2B_PAUSED) states.add(s);
    else
      throw invalidRequest(
        `state must be running or paused, got ${JSON.stringify(value.slice(0, 40))}`,
      );
  }
  return [...states];
}

/** The E2B API never shows dead sandboxes: they are "not found". */
async function visible(deps: ApiDeps, principal: Principal, id: string) {
  const sandbox = await deps.sandboxes.get(principal, id);
  if (!E2B_VISIBLE.includes(sandbox.state)) throw sandboxNotFound(id);
  return sandbox;
}

export const e2bSandboxRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sandboxes } = deps;

  app.post(
    "/v2/sandboxes",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: create a sandbox",
        body: NewSandbox,
        response: { 201: Sandbox, ...e2bErrors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.mcp !== undefined) throw notSupported("mcp");
      if (body.iam !== undefined) throw notSupported("iam");
      if (body.volumeMounts !== undefined && body.volumeMounts.length > 0)
        throw notSupported("volumeMounts");
      if (body.autoResume?.enabled) throw notSupported("autoResume");
      if (body.autoPauseMemory === false)
        throw notSupported("pausing without memory (keepMemory: false)");
      const network = body.network as Record<string, unknown> | undefined;
      const extra = Object.keys(network ?? {}).filter((k) => k !== "allowOut" && k !== "denyOut");
      if (extra.length > 0) throw notSupported(`network.${extra[0]}`);
      const sandbox = await sandboxes.create(principalOf(request), {
        template: body.templateID,
        timeoutSeconds: body.timeout,
        metadata: body.metadata,
        envVars: body.envVars,
        allowInternet: body.allow_internet_access,
        autoPause: body.autoPause,
        network: { allowOut: body.network?.allowOut, denyOut: body.network?.denyOut },
      });
      return reply.status(201).send(created(sandbox));
    },
  );

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
    async (request) => {
      const s = await visible(deps, principalOf(request), request.params.sandboxID);
      return {
        ...listed(s),
        envdAccessToken: s.envdAccessToken,
        domain: null,
        allowInternetAccess: s.allowInternet,
        network: s.network,
        lifecycle: {
          onTimeout: s.autoPause ? ("pause" as const) : ("kill" as const),
          autoResume: false,
        },
      };
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

  app.post(
    "/sandboxes/:sandboxID/timeout",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: end the sandbox `timeout` seconds from now",
        params: SandboxIdParams,
        body: TimeoutBody,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await visible(deps, principal, request.params.sandboxID);
      await sandboxes.setTimeout(principal, request.params.sandboxID, request.body.timeout);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/sandboxes/:sandboxID/pause",
    {
      config: { ...config, optionalBody: true },
      schema: {
        tags,
        security,
        summary: "E2B: pause a sandbox (409 when already paused)",
        params: SandboxIdParams,
        body: PauseBody,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      if (request.body.memory === false)
        throw notSupported("pausing without memory (keepMemory: false)");
      const principal = principalOf(request);
      await visible(deps, principal, request.params.sandboxID);
      await sandboxes.pause(principal, request.params.sandboxID);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v2/sandboxes/:sandboxID/connect",
    {
      config: { ...config, optionalBody: true },
      schema: {
        tags,
        security,
        summary: "E2B: connect; resumes a paused sandbox (201) or extends a running one (200)",
        params: SandboxIdParams,
        body: ConnectBody,
        response: { 200: Sandbox, 201: Sandbox, ...e2bErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const current = await visible(deps, principal, request.params.sandboxID);
      if (request.body.memory === false && current.state !== "running") {
        throw notSupported("resuming with a reboot (onResume: 'reboot')");
      }
      // E2B's connect means 300 s when no timeout is sent, whatever the sandbox was created with.
      const { sandbox, resumed } = await sandboxes.resume(principal, request.params.sandboxID, {
        timeoutSeconds: request.body.timeout ?? E2B_CONNECT_TIMEOUT_SECONDS,
      });
      return reply.status(resumed ? 201 : 200).send(created(sandbox));
    },
  );

  app.get(
    "/sandboxes/:sandboxID/metrics",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: metrics; one current sample while running, none otherwise",
        params: SandboxIdParams,
        querystring: MetricsQuery,
        response: { 200: Type.Array(SandboxMetric), ...e2bErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      await visible(deps, principal, request.params.sandboxID);
      const stats = await sandboxes.stats(principal, request.params.sandboxID);
      if (!stats) return [];
      const unix = Math.floor(stats.timestamp.getTime() / 1000);
      const { start, end } = request.query;
      if ((start !== undefined && unix < start) || (end !== undefined && unix > end)) return [];
      return [
        {
          timestamp: stats.timestamp.toISOString(),
          timestampUnix: unix,
          cpuCount: stats.cpuCount,
          cpuUsedPct: stats.cpuUsedPct,
          memUsed: stats.memUsedBytes,
          memTotal: stats.memTotalBytes,
          memCache: stats.memCacheBytes,
          diskUsed: stats.diskUsedBytes,
          diskTotal: stats.diskTotalBytes,
        },
      ];
    },
  );
};
