import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { commonErrors, SandboxIdParams } from "@wrenn/contract";
import { Type } from "typebox";
import type { AuditLog } from "../../service/audit-log.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

export interface EventRouteDeps extends ApiDeps {
  audit: AuditLog;
}

const EVENTS_LIMIT = { min: 1, max: 500, default: 100 } as const;

const SandboxEventsQuery = Type.Object(
  {
    before: Type.Optional(
      Type.String({
        pattern: "^[1-9][0-9]{0,18}$",
        description: "An event id from a previous page: only older events",
      }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: EVENTS_LIMIT.min,
        maximum: EVENTS_LIMIT.max,
        default: EVENTS_LIMIT.default,
      }),
    ),
  },
  { additionalProperties: false },
);

const SandboxEvent = Type.Object({
  id: Type.String({ description: "Orders the events; pass it as `before` to page back" }),
  at: Type.String({ format: "date-time" }),
  actor: Type.String({ description: "api, lifecycle, reconciler, system or proxy" }),
  action: Type.String({ description: "e.g. sandbox.create, exec.run, file.write" }),
  outcome: Type.String({ description: "ok, error or deferred" }),
  apiKeyId: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});

const SandboxEventPage = Type.Object({
  events: Type.Array(SandboxEvent, { description: "Newest first" }),
  nextBefore: Type.Union([Type.String(), Type.Null()], {
    description: "Pass as `before` for the next (older) page; null at the end",
  }),
});

/**
 * A sandbox's event trail (lifecycle, exec, file and proxy audit events) for its owner: what
 * `wrenn events` shows. Admins read every owner's trail through the admin UI instead.
 */
export const eventRoutes: FastifyPluginAsyncTypebox<EventRouteDeps> = async (app, deps) => {
  app.get(
    "/sandboxes/:id/events",
    {
      schema: {
        tags: ["sandboxes"],
        security: [{ apiKey: [] }],
        summary: "The sandbox's audit events (lifecycle, exec, files), newest first",
        params: SandboxIdParams,
        querystring: SandboxEventsQuery,
        response: { 200: SandboxEventPage, ...commonErrors },
      },
    },
    async (request) => {
      // The ownership check: another owner's sandbox is a 404, exactly as for GET /sandboxes/:id.
      const sandbox = await deps.sandboxes.get(principalOf(request), request.params.id);
      const limit = request.query.limit ?? EVENTS_LIMIT.default;
      // One more than asked tells whether an older page exists without a second query.
      const rows = await deps.audit.trailOf(sandbox.id, {
        beforeId: request.query.before,
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return {
        events: page.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          actor: e.actor,
          action: e.action,
          outcome: e.outcome,
          apiKeyId: e.apiKeyId ?? null,
          durationMs: e.durationMs ?? null,
          detail: e.detail ?? {},
        })),
        nextBefore: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
      };
    },
  );
};
