// The snapshot and fork routes' bodies, queries and answers (/v1/snapshots, /v1/sandboxes/{id}/
// snapshots and /fork).
import { type Static, Type } from "typebox";
import { LIMITS, SNAPSHOT_ID_PATTERN, SNAPSHOT_NAME_PATTERN } from "../limits.js";
import { OwnedSandbox } from "./sandbox-schemas.js";
import { DateTime, Nullable } from "./shared.js";

export const SnapshotIdParams = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 64,
    description: "The snapshot's id (snap- and 8 hex digits)",
  }),
});

export const SnapshotBody = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: SNAPSHOT_NAME_PATTERN,
        maxLength: LIMITS.snapshotNameLength,
        description: "A name to find it by (GET /v1/snapshots?name=)",
      }),
    ),
  },
  { additionalProperties: false, examples: [{ name: "before-migration" }] },
);

export const Snapshot = Type.Object({
  id: Type.String({
    pattern: SNAPSHOT_ID_PATTERN,
    description: "Create a sandbox from it with this as its template",
  }),
  name: Nullable(Type.String()),
  sourceSandboxId: Type.String(),
  template: Type.String({ description: "The template of the sandbox it was taken from" }),
  sizeBytes: Type.Integer({ description: "Memory image and disk together, as stored" }),
  stored: Type.Boolean({
    description:
      "In the fleet's shared artifact store: it outlives its host, and a sandbox made from it may be placed on any host. When false it lives on its host alone (no store configured, or the upload has not finished)",
  }),
  createdAt: DateTime,
});

export const SnapshotPage = Type.Object({
  snapshots: Type.Array(Snapshot),
  nextCursor: Nullable(Type.String()),
});

export const ListSnapshotsQuery = Type.Object({
  sandboxId: Type.Optional(Type.String({ maxLength: 64 })),
  name: Type.Optional(Type.String({ maxLength: LIMITS.snapshotNameLength })),
  limit: Type.Optional(
    Type.Integer({ minimum: LIMITS.listLimit.min, maximum: LIMITS.listLimit.max }),
  ),
  cursor: Type.Optional(Type.String({ maxLength: LIMITS.cursorLength })),
});

export const ForkBody = Type.Object(
  {
    count: Type.Optional(
      Type.Integer({
        minimum: LIMITS.forkCount.min,
        maximum: LIMITS.forkCount.max,
        description: `Sandboxes to create from one snapshot of the source (default ${LIMITS.forkCount.default})`,
      }),
    ),
    timeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.timeoutSeconds.min,
        maximum: LIMITS.timeoutSeconds.max,
        description: "Lifetime of each fork; default: the server's default",
      }),
    ),
  },
  { additionalProperties: false, examples: [{ count: 3, timeoutSeconds: 600 }] },
);

/** One fork: exactly one of sandbox and error. */
export const ForkResult = Type.Object({
  sandbox: Type.Optional(OwnedSandbox),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

export const ForkResponse = Type.Object({ forks: Type.Array(ForkResult) });

export type SnapshotBody = Static<typeof SnapshotBody>;
export type Snapshot = Static<typeof Snapshot>;
export type SnapshotPage = Static<typeof SnapshotPage>;
export type ListSnapshotsQuery = Static<typeof ListSnapshotsQuery>;
export type ForkBody = Static<typeof ForkBody>;
export type ForkResult = Static<typeof ForkResult>;
export type ForkResponse = Static<typeof ForkResponse>;
