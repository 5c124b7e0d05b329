// API keys (/v1/api-keys) and hosts (/v1/hosts).
import { type Static, Type } from "typebox";
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

/** GET /v1/hosts (admin). */
export const HostList = Type.Object({ hosts: Type.Array(Host) });

export type ApiKey = Static<typeof ApiKey>;
export type ApiKeyList = Static<typeof ApiKeyList>;
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;
export type CreatedApiKey = Static<typeof CreatedApiKey>;
export type CurrentApiKey = Static<typeof CurrentApiKey>;
export type Host = Static<typeof Host>;
export type HostList = Static<typeof HostList>;
