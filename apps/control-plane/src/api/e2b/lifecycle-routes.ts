// E2B's lifecycle routes: timeout, refresh, pause, connect and resume, metrics. Every path any
// E2B SDK release sends lands on the same service call (see docs/e2b-compatibility.md).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { created, E2B_PAUSED, notImplemented, visible } from "./sandbox-views.js";
import {
  ConnectBody,
  e2bErrors,
  MetricsQuery,
  PauseBody,
  RefreshBody,
  ResumeBody,
  Sandbox,
  SandboxIdParams,
  SandboxMetric,
  TimeoutBody,
} from "./schemas.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };
/** E2B's connect means 300 s when no timeout is sent, whatever the sandbox was created with. */
const E2B_CONNECT_TIMEOUT_SECONDS = 300;
/** E2B's resume (deprecated) defaults to 15 s. */
const E2B_RESUME_TIMEOUT_SECONDS = 15;

export const e2bLifecycleRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sandboxes } = deps;

  app.post(
    "/sandboxes/:sandboxID/timeout",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: end the sandbox `timeout` seconds from now (404 while paused, as E2B)",
        params: SandboxIdParams,
        body: TimeoutBody,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const current = await visible(deps, principal, request.params.sandboxID);
      // E2B only times running sandboxes; SDK 2.0-2.5 connect by trying this and resuming
      // when it fails, so a paused sandbox must refuse it to be resumed at all.
      if (E2B_PAUSED.includes(current.state)) throw pausedNotRunning(current.id);
      await sandboxes.setTimeout(principal, request.params.sandboxID, request.body.timeout);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/sandboxes/:sandboxID/refreshes",
    {
      config: { ...config, optionalBody: true },
      schema: {
        tags,
        security,
        summary: "E2B: keep a running sandbox alive at least `duration` more seconds",
        params: SandboxIdParams,
        body: RefreshBody,
        response: { 204: Type.Null(), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const current = await visible(deps, principal, request.params.sandboxID);
      if (E2B_PAUSED.includes(current.state)) throw pausedNotRunning(current.id);
      const duration = request.body.duration ?? 0;
      // Extends only (never shortens), like E2B's refresh: the service's connect of a running
      // sandbox is exactly that.
      if (duration > 0) await sandboxes.resume(principal, current.id, { timeoutSeconds: duration });
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
        throw notImplemented("Pausing without memory (keepMemory: false)");
      const principal = principalOf(request);
      await visible(deps, principal, request.params.sandboxID);
      await sandboxes.pause(principal, request.params.sandboxID);
      return reply.status(204).send(null);
    },
  );

  // e2b 2.6-2.50 and the Python SDK connect with /sandboxes/{id}/connect; 2.51.0 with /v2.
  for (const path of ["/sandboxes/:sandboxID/connect", "/v2/sandboxes/:sandboxID/connect"]) {
    app.post(
      path,
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
          throw notImplemented("Resuming with a reboot (onResume: 'reboot')");
        }
        const { sandbox, resumed } = await sandboxes.resume(principal, request.params.sandboxID, {
          timeoutSeconds: request.body.timeout ?? E2B_CONNECT_TIMEOUT_SECONDS,
        });
        return reply.status(resumed ? 201 : 200).send(created(sandbox, deps.domain?.name));
      },
    );
  }

  app.post(
    "/sandboxes/:sandboxID/resume",
    {
      config: { ...config, optionalBody: true },
      schema: {
        tags,
        security,
        summary: "E2B (deprecated, SDK 2.0-2.5): resume a paused sandbox; 409 when running",
        params: SandboxIdParams,
        body: ResumeBody,
        response: { 201: Sandbox, ...e2bErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const current = await visible(deps, principal, request.params.sandboxID);
      if (!E2B_PAUSED.includes(current.state)) {
        throw new ServiceError(
          "sandbox_running",
          `sandbox ${current.id} is already running; it cannot be resumed`,
        );
      }
      const { sandbox } = await sandboxes.resume(principal, current.id, {
        timeoutSeconds: request.body.timeout ?? E2B_RESUME_TIMEOUT_SECONDS,
      });
      return reply.status(201).send(created(sandbox, deps.domain?.name));
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

/** What E2B answers for a paused sandbox on routes that need it running. */
const pausedNotRunning = (id: string) =>
  new ServiceError("sandbox_not_found", `sandbox ${id} is paused; connect to it to resume it`);
