// A sandbox's audit trail (/v1/sandboxes/{id}/events) and the service's liveness (/healthz).
import { type Static, Type } from "typebox";
import { DateTime, Nullable } from "./shared.js";

/** How many events one page may hold (`limit`), and how many without one. */
export const SANDBOX_EVENTS_LIMIT = { min: 1, max: 500, default: 100 } as const;

export const SandboxEventsQuery = Type.Object(
  {
    before: Type.Optional(
      Type.String({
        pattern: "^[1-9][0-9]{0,18}$",
        description: "An event id from a previous page: only older events",
      }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: SANDBOX_EVENTS_LIMIT.min,
        maximum: SANDBOX_EVENTS_LIMIT.max,
        default: SANDBOX_EVENTS_LIMIT.default,
      }),
    ),
  },
  { additionalProperties: false },
);

export const SandboxEvent = Type.Object({
  id: Type.String({ description: "Orders the events; pass it as `before` to page back" }),
  at: DateTime,
  actor: Type.String({ description: "api, lifecycle, reconciler, system or proxy" }),
  action: Type.String({ description: "e.g. sandbox.create, exec.run, file.write" }),
  outcome: Type.String({ description: "ok, error or deferred" }),
  apiKeyId: Nullable(Type.String()),
  durationMs: Nullable(Type.Integer()),
  detail: Type.Record(Type.String(), Type.Unknown()),
});

export const SandboxEventPage = Type.Object({
  events: Type.Array(SandboxEvent, { description: "Newest first" }),
  nextBefore: Type.Union([Type.String(), Type.Null()], {
    description: "Pass as `before` for the next (older) page; null at the end",
  }),
});

/** GET /healthz: no key needed. */
export const Health = Type.Object({ status: Type.Literal("ok"), version: Type.String() });

export type SandboxEventsQuery = Static<typeof SandboxEventsQuery>;
export type SandboxEvent = Static<typeof SandboxEvent>;
export type SandboxEventPage = Static<typeof SandboxEventPage>;
export type Health = Static<typeof Health>;
