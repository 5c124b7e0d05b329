import { SANDBOX_ERROR_REASONS } from "@wrenn/proto/hostagent";
import { Type } from "typebox";
import { ENV_VAR_NAME_PATTERN, LIMITS, TEMPLATE_PATTERN } from "../../service/limits.js";
import { SANDBOX_STATES } from "../../service/sandbox-types.js";

export const ErrorBody = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }) },
  { description: "Every /v1 error" },
);

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<number, typeof ErrorBody>;

/** Statuses any authenticated route can answer with. */
export const commonErrors = errors(400, 401, 403, 404, 409, 429, 500, 502, 503);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
const DateTime = Type.String({ format: "date-time" });

export const SandboxIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: "Sandbox id, sb- and 8 hex digits" }),
});

export const State = Type.Enum([...SANDBOX_STATES]);

export const Resources = Type.Object({
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  diskMb: Type.Integer(),
});

const Cidrs = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 256 });

/**
 * An object of strings with bounded keys. Written with propertyNames rather than Type.Record:
 * a Record's key pattern only selects which values to check, it does not reject other keys.
 */
export const StringMap = (
  keyLength: number,
  valueLength: number,
  entries: number,
  options: { keyPattern?: string; description?: string } = {},
) =>
  Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string", maxLength: valueLength },
    propertyNames: {
      type: "string",
      minLength: 1,
      maxLength: keyLength,
      ...(options.keyPattern ? { pattern: options.keyPattern } : {}),
    },
    maxProperties: entries,
    ...(options.description ? { description: options.description } : {}),
  });

export const Sandbox = Type.Object({
  id: Type.String(),
  state: State,
  template: Type.String(),
  resources: Resources,
  metadata: Type.Record(Type.String(), Type.String()),
  envVarNames: Type.Array(Type.String(), { description: "Values are never stored" }),
  allowInternet: Type.Boolean(),
  network: Type.Object({ allowOut: Type.Array(Type.String()), denyOut: Type.Array(Type.String()) }),
  autoPause: Type.Boolean(),
  timeoutSeconds: Type.Integer(),
  envdVersion: Nullable(Type.String()),
  hostId: Nullable(Type.String()),
  startedAt: DateTime,
  endAt: DateTime,
  stateChangedAt: DateTime,
  createdAt: DateTime,
  stoppedAt: Nullable(DateTime),
  error: Nullable(Type.String()),
  errorReason: Nullable(
    Type.Enum([...SANDBOX_ERROR_REASONS], {
      description:
        "Why the sandbox is in `error`: `oom` (it ran out of its memory), `pids` (it reached its task limit), `crashed` (it stopped on its own otherwise), `interrupted` (an operation on it was cut short, e.g. its host agent died during a pause), `failed` (an operation on it failed), `lost` (its host no longer has it). Null in every other state. Its files stay readable through the files API while it is in `error`, when its host still has them.",
    }),
  ),
});

export const OwnedSandbox = Type.Object({
  ...Sandbox.properties,
  envdAccessToken: Type.String({
    description: "Token for envd inside the sandbox (X-Access-Token)",
  }),
});

const TimeoutSeconds = Type.Integer({
  minimum: LIMITS.timeoutSeconds.min,
  maximum: LIMITS.timeoutSeconds.max,
  description: "Seconds until the sandbox is destroyed, or paused with autoPause",
});

export const CreateSandboxBody = Type.Object(
  {
    template: Type.Optional(
      Type.String({ maxLength: LIMITS.templateLength, pattern: TEMPLATE_PATTERN, default: "base" }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          vcpus: Type.Optional(
            Type.Integer({ minimum: LIMITS.vcpus.min, maximum: LIMITS.vcpus.max }),
          ),
          memoryMb: Type.Optional(
            Type.Integer({ minimum: LIMITS.memoryMb.min, maximum: LIMITS.memoryMb.max }),
          ),
          diskMb: Type.Optional(
            Type.Integer({ minimum: LIMITS.diskMb.min, maximum: LIMITS.diskMb.max }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    metadata: Type.Optional(
      StringMap(LIMITS.metadataKeyLength, LIMITS.metadataValueLength, LIMITS.metadataEntries),
    ),
    envVars: Type.Optional(
      StringMap(LIMITS.envVarNameLength, LIMITS.envVarValueLength, LIMITS.envVarEntries, {
        keyPattern: ENV_VAR_NAME_PATTERN,
        description: "Passed to the sandbox, never stored",
      }),
    ),
    timeoutSeconds: Type.Optional(TimeoutSeconds),
    autoPause: Type.Optional(
      Type.Boolean({ description: "Pause instead of destroy at the end time" }),
    ),
    allowInternet: Type.Optional(Type.Boolean({ default: false })),
    mounts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            hostPath: Type.String({ minLength: 1, maxLength: 4096, pattern: "^/" }),
            path: Type.String({ minLength: 2, maxLength: 256, pattern: "^/" }),
            readOnly: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: LIMITS.mounts,
          description:
            "Host directories bound into the sandbox (admin keys only; the host agent allows only those under its WRENN_MOUNT_ROOTS). Sandboxes with mounts boot cold.",
        },
      ),
    ),
    network: Type.Optional(
      Type.Object(
        { allowOut: Type.Optional(Cidrs), denyOut: Type.Optional(Cidrs) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ListSandboxesQuery = Type.Object(
  {
    state: Type.Optional(
      Type.Array(Type.String({ maxLength: 200 }), {
        maxItems: 20,
        description: "Repeat or comma-separate; default: every state but stopped",
      }),
    ),
    metadata: Type.Optional(
      Type.Array(
        Type.String({ maxLength: LIMITS.metadataKeyLength + LIMITS.metadataValueLength + 1 }),
        {
          maxItems: LIMITS.metadataEntries,
          description: "key=value, repeatable; all must match",
        },
      ),
    ),
    template: Type.Optional(Type.String({ maxLength: LIMITS.templateLength })),
    startedAfter: Type.Optional(DateTime),
    order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
    limit: Type.Optional(
      Type.Integer({ minimum: LIMITS.listLimit.min, maximum: LIMITS.listLimit.max, default: 100 }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: LIMITS.cursorLength })),
  },
  { additionalProperties: false },
);

export const SandboxPage = Type.Object({
  sandboxes: Type.Array(Sandbox),
  nextCursor: Nullable(Type.String()),
});

export const TimeoutBody = Type.Object(
  { timeoutSeconds: TimeoutSeconds },
  { additionalProperties: false },
);

export const ResumeBody = Type.Object(
  {
    timeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.timeoutSeconds.min,
        maximum: LIMITS.timeoutSeconds.max,
        description: "Seconds from now; default: the timeout the sandbox was created with",
      }),
    ),
  },
  { additionalProperties: false },
);

export const SandboxStats = Type.Object({
  timestamp: DateTime,
  cpuCount: Type.Integer(),
  cpuUsedPct: Type.Number(),
  memUsedBytes: Type.Number(),
  memTotalBytes: Type.Number(),
  memCacheBytes: Type.Number(),
  diskUsedBytes: Type.Number(),
  diskTotalBytes: Type.Number(),
});

const Pools = Type.Object({
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  storageMb: Type.Integer(),
});

export const ApiKey = Type.Object({
  id: Type.String(),
  ownerId: Type.String(),
  ownerName: Type.String(),
  name: Type.String(),
  role: Type.Union([Type.Literal("admin"), Type.Literal("user")]),
  pools: Pools,
  createRatePerMinute: Type.Integer(),
  createdBy: Nullable(Type.String()),
  createdAt: DateTime,
  revokedAt: Nullable(DateTime),
});

const PoolValue = Type.Integer({ minimum: 0, maximum: LIMITS.pool.max });

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: LIMITS.keyNameLength }),
    role: Type.Optional(
      Type.Union([Type.Literal("admin"), Type.Literal("user")], { default: "user" }),
    ),
    ownerId: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "Add the key to this owner; default: a new owner",
      }),
    ),
    ownerName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    pools: Type.Optional(
      Type.Object(
        {
          vcpus: Type.Optional(PoolValue),
          memoryMb: Type.Optional(PoolValue),
          storageMb: Type.Optional(PoolValue),
        },
        { additionalProperties: false },
      ),
    ),
    createRatePerMinute: Type.Optional(
      Type.Integer({ minimum: 0, maximum: LIMITS.createRatePerMinute.max }),
    ),
    format: Type.Optional(
      Type.Union([Type.Literal("wrenn"), Type.Literal("e2b")], {
        default: "wrenn",
        description:
          "wrenn: wrn_ + 32 characters; e2b: e2b_ + 40 hex, accepted by every E2B SDK release (2.30-2.45 check the key's form)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const CreatedApiKey = Type.Object({
  apiKey: ApiKey,
  key: Type.String({ description: "Shown this once; only its hash is stored" }),
});

export const CurrentApiKey = Type.Object({ apiKey: ApiKey, usage: Pools });

export const ApiKeyIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const Capacity = Type.Object({
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  diskMb: Type.Integer(),
});

export const Host = Type.Object({
  id: Type.String(),
  url: Type.String(),
  status: Type.Union([Type.Literal("unknown"), Type.Literal("online"), Type.Literal("offline")]),
  agentHostId: Nullable(Type.String()),
  hostname: Nullable(Type.String()),
  version: Nullable(Type.String()),
  instanceId: Nullable(Type.String()),
  runtimes: Type.Array(Type.String()),
  capacity: Nullable(Type.Object({ total: Capacity, used: Capacity })),
  sandboxesByState: Type.Record(Type.String(), Type.Integer()),
  templates: Type.Array(
    Type.Object({ name: Type.String(), version: Type.String(), envdVersion: Type.String() }),
  ),
  lastSeenAt: Nullable(DateTime),
  lastError: Nullable(Type.String()),
});
