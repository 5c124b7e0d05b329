import {
  EgressHeaderRulesSchema,
  EgressProxyInput,
  EgressProxyView,
  ENV_VAR_NAME_PATTERN,
  LIMITS,
  ListSecretsQuery,
  SECRET_LIMITS,
  Secret,
  StringMap,
} from "@wrenn/contract";
import { Type } from "typebox";

/** E2B's error body: the SDK tells "not found" and "conflict" apart by `code`. */
export const E2bError = Type.Object({
  code: Type.Integer(),
  message: Type.String(),
  error_code: Type.Optional(Type.String()),
});

export const e2bErrors = Object.fromEntries(
  [400, 401, 403, 404, 409, 429, 500, 501, 502, 503].map((s) => [s, E2bError]),
) as Record<number, typeof E2bError>;

const Timeout = Type.Integer({
  minimum: LIMITS.timeoutSeconds.min,
  maximum: LIMITS.timeoutSeconds.max,
  description: "Seconds",
});

/** allowOut / denyOut as sent; the contract's validators decide what an entry may be. */
const EgressList = Type.Array(Type.String({ maxLength: 256 }), { maxItems: 256 });

export const SandboxIdParams = Type.Object({
  sandboxID: Type.String({ minLength: 1, maxLength: 64 }),
});

/**
 * NewSandboxV2. Unknown fields pass (newer SDKs add some); the known ones Wrenn cannot honour
 * are refused by the route rather than silently ignored.
 */
export const NewSandbox = Type.Object(
  {
    templateID: Type.Optional(Type.String({ maxLength: LIMITS.templateLength })),
    timeout: Type.Optional(Timeout),
    metadata: Type.Optional(
      StringMap(LIMITS.metadataKeyLength, LIMITS.metadataValueLength, LIMITS.metadataEntries),
    ),
    envVars: Type.Optional(
      StringMap(LIMITS.envVarNameLength, LIMITS.envVarValueLength, LIMITS.envVarEntries, {
        keyPattern: ENV_VAR_NAME_PATTERN,
      }),
    ),
    allow_internet_access: Type.Optional(Type.Boolean()),
    secure: Type.Optional(Type.Boolean()),
    autoPause: Type.Optional(Type.Boolean()),
    autoPauseMemory: Type.Optional(Type.Boolean()),
    autoResume: Type.Optional(Type.Object({ enabled: Type.Boolean() })),
    network: Type.Optional(
      Type.Object({
        allowOut: Type.Optional(EgressList),
        denyOut: Type.Optional(EgressList),
        allowPublicTraffic: Type.Optional(Type.Boolean()),
        egressProxy: Type.Optional(EgressProxyInput),
        rules: Type.Optional(EgressHeaderRulesSchema),
      }),
    ),
    mcp: Type.Optional(Type.Unknown()),
    iam: Type.Optional(Type.Unknown()),
    volumeMounts: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 64 })),
  },
  { additionalProperties: true },
);

/**
 * SandboxNetworkUpdateConfig (PUT /sandboxes/{id}/network): replaces the whole egress config.
 * Unknown fields pass (newer SDKs add some).
 */
export const NetworkUpdate = Type.Object(
  {
    allow_internet_access: Type.Optional(Type.Boolean()),
    allowOut: Type.Optional(EgressList),
    denyOut: Type.Optional(EgressList),
    rules: Type.Optional(EgressHeaderRulesSchema),
    egressProxy: Type.Optional(EgressProxyInput),
  },
  { additionalProperties: true },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
const DateTime = Type.String({ format: "date-time" });

export const Sandbox = Type.Object({
  sandboxID: Type.String(),
  templateID: Type.String(),
  alias: Type.Optional(Type.String()),
  clientID: Type.String(),
  envdVersion: Type.String(),
  envdAccessToken: Type.Optional(Type.String()),
  trafficAccessToken: Type.Optional(Nullable(Type.String())),
  domain: Nullable(Type.String()),
});

export const E2bState = Type.Union([Type.Literal("running"), Type.Literal("paused")]);

export const ListedSandbox = Type.Object({
  sandboxID: Type.String(),
  templateID: Type.String(),
  alias: Type.Optional(Type.String()),
  clientID: Type.String(),
  cpuCount: Type.Integer(),
  memoryMB: Type.Integer(),
  diskSizeMB: Type.Integer(),
  envdVersion: Type.String(),
  startedAt: DateTime,
  endAt: DateTime,
  state: E2bState,
  metadata: Type.Record(Type.String(), Type.String()),
  volumeMounts: Type.Array(Type.Object({ name: Type.String(), path: Type.String() })),
});

export const SandboxDetail = Type.Object({
  ...ListedSandbox.properties,
  envdAccessToken: Type.Optional(Type.String()),
  domain: Nullable(Type.String()),
  allowInternetAccess: Type.Boolean(),
  network: Type.Object({
    allowOut: Type.Array(Type.String()),
    denyOut: Type.Array(Type.String()),
    allowPublicTraffic: Type.Boolean(),
    egressProxy: Type.Optional(EgressProxyView),
    rules: Type.Optional(EgressHeaderRulesSchema),
  }),
  lifecycle: Type.Object({
    onTimeout: Type.Union([Type.Literal("kill"), Type.Literal("pause")]),
    autoResume: Type.Boolean(),
  }),
});

export const ListQuery = Type.Object({
  metadata: Type.Optional(
    Type.String({ maxLength: 16_384, description: "Encoded key=value&... (as the SDK sends it)" }),
  ),
  state: Type.Optional(
    Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10, description: "running,paused" }),
  ),
  template: Type.Optional(Type.String({ maxLength: LIMITS.templateLength })),
  startedAfter: Type.Optional(DateTime),
  order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
  limit: Type.Optional(
    Type.Integer({ minimum: LIMITS.listLimit.min, maximum: LIMITS.listLimit.max }),
  ),
  nextToken: Type.Optional(Type.String({ maxLength: LIMITS.cursorLength })),
});

export const TimeoutBody = Type.Object({ timeout: Timeout });

/** POST /sandboxes/{id}/refreshes (E2B: 0 to 3600 s). */
export const RefreshBody = Type.Object({
  duration: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: "Seconds" })),
});

/** POST /sandboxes/{id}/resume (deprecated in E2B; SDK 2.0-2.5 send it). */
export const ResumeBody = Type.Object({
  timeout: Type.Optional(Timeout),
  autoPause: Type.Optional(Type.Boolean({ description: "Deprecated; ignored" })),
});

/** GET /sandboxes (E2B v1 list, SDK 1.x): running sandboxes only, no pages. */
export const V1ListQuery = Type.Object({
  metadata: Type.Optional(
    Type.String({ maxLength: 16_384, description: "Encoded key=value&... (as the SDK sends it)" }),
  ),
});

export const PauseBody = Type.Object({ memory: Type.Optional(Type.Boolean()) });

export const ConnectBody = Type.Object({
  timeout: Type.Optional(Timeout),
  memory: Type.Optional(Type.Boolean()),
});

export const MetricsQuery = Type.Object({
  start: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e11, description: "Unix seconds" })),
  end: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e11, description: "Unix seconds" })),
});

export const SandboxMetric = Type.Object({
  timestamp: DateTime,
  timestampUnix: Type.Integer(),
  cpuCount: Type.Integer(),
  cpuUsedPct: Type.Number(),
  memUsed: Type.Number(),
  memTotal: Type.Number(),
  memCache: Type.Number(),
  diskUsed: Type.Number(),
  diskTotal: Type.Number(),
});

/** POST /sandboxes/{id}/snapshots. */
export const SnapshotBody = Type.Object({
  name: Type.Optional(
    Type.String({ maxLength: LIMITS.snapshotNameLength, description: "A name for the snapshot" }),
  ),
});

/** E2B's SnapshotInfo: the id `Sandbox.create` takes, and its names. */
export const SnapshotInfo = Type.Object({
  snapshotID: Type.String(),
  names: Type.Array(Type.String()),
});

/** GET /snapshots. */
export const SnapshotListQuery = Type.Object({
  sandboxID: Type.Optional(Type.String({ maxLength: 64 })),
  name: Type.Optional(Type.String({ maxLength: LIMITS.snapshotNameLength })),
  limit: Type.Optional(
    Type.Integer({ minimum: LIMITS.listLimit.min, maximum: LIMITS.listLimit.max }),
  ),
  nextToken: Type.Optional(Type.String({ maxLength: LIMITS.cursorLength })),
});

/** POST /sandboxes/{id}/fork (E2B: count 1..100, default 1; timeout default 15 s). */
export const ForkBody = Type.Object({
  count: Type.Optional(
    Type.Integer({
      minimum: LIMITS.forkCount.min,
      maximum: LIMITS.forkCount.max,
      description: "Sandboxes to create from one snapshot of the source",
    }),
  ),
  timeout: Type.Optional(Timeout),
});

/** One fork's outcome: exactly one of sandbox and error. */
export const ForkResult = Type.Object({
  sandbox: Type.Optional(Sandbox),
  error: Type.Optional(E2bError),
});

/** E2B's Secret: /v1's Secret with the id under E2B's name. Never the value. */
const { id: secretId, ...secretRest } = Secret.properties;
export const E2bSecret = Type.Object({ secretID: secretId, ...secretRest });

/** /v1's list query under E2B's name for the cursor. */
export const SecretListQuery = Type.Object({
  limit: ListSecretsQuery.properties.limit,
  nextToken: ListSecretsQuery.properties.cursor,
});

export const SecretIdParams = Type.Object({
  secretID: Type.String({ minLength: 1, maxLength: SECRET_LIMITS.nameLength }),
});
