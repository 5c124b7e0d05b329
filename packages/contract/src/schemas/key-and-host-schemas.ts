// API keys (/v1/api-keys) and hosts (/v1/hosts).
import { type Static, Type } from "typebox";
import { HOST_KINDS, HOST_STATES } from "../host-states.js";
import { LIMITS } from "../limits.js";
import { DateTime, Nullable } from "./shared.js";

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
  {
    additionalProperties: false,
    examples: [
      { name: "ci-runner", pools: { vcpus: 8, memoryMb: 16384 }, createRatePerMinute: 30 },
    ],
  },
);

export const CreatedApiKey = Type.Object({
  apiKey: ApiKey,
  key: Type.String({ description: "Shown this once; only its hash is stored" }),
});

export const CurrentApiKey = Type.Object({ apiKey: ApiKey, usage: Pools });

/** GET /v1/api-keys (admin): every key, revoked ones too (revokedAt set). */
export const ApiKeyList = Type.Object({ apiKeys: Type.Array(ApiKey) });

export const ApiKeyIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const Capacity = Type.Object({
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  diskMb: Type.Integer(),
});

export const Host = Type.Object({
  id: Type.String(),
  url: Type.String(),
  status: Type.Enum([...HOST_STATES]),
  kind: Type.Enum([...HOST_KINDS]),
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
  drained: Type.Boolean({
    description: "Drained: takes no new sandboxes; those it holds keep running (POST .../drain)",
  }),
});

/** GET /v1/hosts (admin). */
export const HostList = Type.Object({ hosts: Type.Array(Host) });

export const HostIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const DeleteHostQuery = Type.Object(
  {
    force: Type.Optional(
      Type.Boolean({
        description: "Destroy the host's sandboxes first (without it: 409 host_in_use)",
      }),
    ),
  },
  { additionalProperties: false },
);

/** DELETE /v1/hosts/{id}: what went with the host. */
export const DeletedHost = Type.Object({
  id: Type.String(),
  destroyedSandboxes: Type.Array(Type.String(), {
    description: "Sandboxes destroyed first (force=true); empty when the host held none",
  }),
});

/**
 * POST /v1/hosts/{id}/drain and /undrain: the host, and its paused sandboxes, which the
 * lifecycle pass then hibernates to the artifact store (a resume brings each to another host).
 */
export const HostDrain = Type.Object({
  host: Host,
  pausedSandboxes: Type.Array(Type.String(), {
    description:
      "Paused sandboxes on this host; once drained, the lifecycle pass hibernates them to the artifact store",
  }),
  note: Type.String(),
});

// ---- host registration (docs/hosts.md)

const HostTokenSecret = Type.String({ minLength: 1, maxLength: 200 });

export const CreateHostTokenBody = Type.Object(
  {
    expiresInSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 30 * 24 * 3600,
        description: "How long the token may wait to be used (default 24 hours)",
      }),
    ),
  },
  // What /docs fills in for "Try it out": a token that waits an hour.
  { additionalProperties: false, examples: [{ expiresInSeconds: 3600 }] },
);

export const CreatedHostToken = Type.Object({
  id: Type.String(),
  token: Type.String({ description: "Shown this once; only its hash is stored. One use." }),
  expiresAt: DateTime,
});

export const RegisterHostBody = Type.Object(
  {
    token: HostTokenSecret,
    url: Type.String({
      minLength: 1,
      maxLength: 500,
      pattern: "^https?://",
      description: "Where the control plane reaches this agent",
    }),
  },
  // Sent by the host agent itself (WRENN_REGISTRATION_TOKEN), not by users.
  {
    additionalProperties: false,
    examples: [{ token: "<the token from wrenn hosts token>", url: "http://10.0.0.7:9090" }],
  },
);

/** What an agent receives when it registers or refreshes; it keeps it in its data dir. */
const hostCredentialFields = {
  hostId: Type.String(),
  jwt: Type.String({ description: "Sent as Authorization: Bearer with every heartbeat" }),
  jwtExpiresAt: DateTime,
  refreshToken: Type.String({ description: "Exchanged for new credentials; one use" }),
  refreshExpiresAt: DateTime,
};

export const HostCredentials = Type.Object(hostCredentialFields);

export const RegisteredHostCredentials = Type.Object({
  ...hostCredentialFields,
  agentToken: Type.String({
    description: "The bearer token this host's agent accepts from the control plane",
  }),
});

export const RefreshHostBody = Type.Object(
  { hostId: Type.String({ minLength: 1, maxLength: 64 }), refreshToken: HostTokenSecret },
  {
    additionalProperties: false,
    examples: [{ hostId: "<the agent's host id>", refreshToken: "<its refresh token>" }],
  },
);

const Count = Type.Integer({ minimum: 0 });
const HeartbeatCapacity = Type.Object({ vcpus: Count, memoryMb: Count, diskMb: Count });

export const HostHeartbeatBody = Type.Object(
  {
    instanceId: Type.String({ minLength: 1, maxLength: 64 }),
    /** A decimal string: a uint64 counter that moves when a sandbox changes state on its own. */
    stateVersion: Type.String({ pattern: "^[0-9]{1,20}$" }),
    startedAt: DateTime,
    hostname: Type.String({ maxLength: 255 }),
    version: Type.String({ maxLength: 64 }),
    runtimes: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 }),
    capacity: Type.Object({ total: HeartbeatCapacity, used: HeartbeatCapacity }),
    sandboxesByState: Type.Record(Type.String({ maxLength: 32 }), Count),
    templates: Type.Array(
      Type.Object({
        name: Type.String({ maxLength: 200 }),
        version: Type.String({ maxLength: 200 }),
        envdVersion: Type.String({ maxLength: 200 }),
        sizeBytes: Count,
        builtAt: Nullable(Type.String({ maxLength: 64 })),
      }),
      { maxItems: 1000 },
    ),
  },
  // Sent by the host agent every few seconds, with its JWT.
  {
    additionalProperties: false,
    examples: [
      {
        instanceId: "a1b2c3d4",
        stateVersion: "42",
        startedAt: "2026-12-06T03:00:00.000Z",
        hostname: "host-1",
        version: "0.1.0",
        runtimes: ["gvisor"],
        capacity: {
          total: { vcpus: 8, memoryMb: 32768, diskMb: 204800 },
          used: { vcpus: 2, memoryMb: 1024, diskMb: 4096 },
        },
        sandboxesByState: { running: 2 },
        templates: [],
      },
    ],
  },
);

export type CreateHostTokenBody = Static<typeof CreateHostTokenBody>;
export type CreatedHostToken = Static<typeof CreatedHostToken>;
export type RegisterHostBody = Static<typeof RegisterHostBody>;
export type HostCredentials = Static<typeof HostCredentials>;
export type RegisteredHostCredentials = Static<typeof RegisteredHostCredentials>;
export type RefreshHostBody = Static<typeof RefreshHostBody>;
export type HostHeartbeatBody = Static<typeof HostHeartbeatBody>;
export type ApiKey = Static<typeof ApiKey>;
export type ApiKeyList = Static<typeof ApiKeyList>;
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;
export type CreatedApiKey = Static<typeof CreatedApiKey>;
export type CurrentApiKey = Static<typeof CurrentApiKey>;
export type Host = Static<typeof Host>;
export type DeleteHostQuery = Static<typeof DeleteHostQuery>;
export type DeletedHost = Static<typeof DeletedHost>;
export type HostDrain = Static<typeof HostDrain>;
export type HostList = Static<typeof HostList>;
