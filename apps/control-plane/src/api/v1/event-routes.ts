import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  commonErrors,
  SANDBOX_EVENTS_LIMIT,
  SandboxEventPage,
  SandboxEventsQuery,
  SandboxIdParams,
} from "@wrenn/contract";
import type { AuditLog } from "../../service/audit-log.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

export interface EventRouteDeps extends ApiDeps {
  audit: AuditLog;
}

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
      const limit = request.query.limit ?? SANDBOX_EVENTS_LIMIT.default;
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
