import { LIMITS } from "@wrenn/contract";
import type { Logger } from "pino";
import {
  type ApiKeyFormat,
  generateApiKey,
  hashApiKey,
  PRESENTED_KEY_PATTERN,
} from "../auth/api-key.js";
import type { Database, Queryable } from "../db/database.js";
import {
  type ApiKeyRecord,
  countActiveAdmins,
  countKeys,
  findActiveKeyByHash,
  findKey,
  insertApiKey,
  insertOwner,
  listKeys,
  lockActiveAdminKeys,
  ownerExists,
  type Pools,
  revokeKey,
} from "../store/api-key-store.js";
import type { KeyUsage } from "../store/sandbox-usage-store.js";
import type { AuditLog } from "./audit-log.js";
import { invalidRequest, ServiceError } from "./errors.js";
import { API_KEY_ID_PATTERN, newApiKeyId, newOwnerId, OWNER_ID_PATTERN } from "./ids.js";
import { ADMIN_KEY_DEFAULTS, USER_KEY_DEFAULTS } from "./limits.js";
import { usageOfPools } from "./quota.js";
import type { Principal } from "./sandbox-types.js";

export interface CreateKeyInput {
  name: string;
  role?: "admin" | "user";
  /** An existing owner to add the key to; otherwise a new owner is created. */
  ownerId?: string;
  /** Name of the new owner; defaults to the key's name. */
  ownerName?: string;
  pools?: Partial<Pools>;
  createRatePerMinute?: number;
  /** `e2b` issues `e2b_` + 40 hex, a key every E2B SDK release accepts. Default `wrenn`. */
  format?: ApiKeyFormat;
}

export const missingKey = () =>
  new ServiceError("missing_api_key", "this endpoint needs an API key in the X-API-Key header");
const badKey = () => new ServiceError("invalid_api_key", "the API key is not valid or was revoked");
const forbidden = () => new ServiceError("forbidden", "this endpoint needs an admin API key");

function boundedInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw invalidRequest(`${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

async function insertKeyWithFreshId(
  q: Queryable,
  fields: Omit<Parameters<typeof insertApiKey>[1], "id">,
): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const id = newApiKeyId();
    if (await insertApiKey(q, { ...fields, id })) return id;
  }
  throw new Error("could not draw a free API key id");
}

async function insertOwnerWithFreshId(q: Queryable, name: string): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const id = newOwnerId();
    if (await insertOwner(q, id, name)) return id;
  }
  throw new Error("could not draw a free owner id");
}

export class ApiKeyService {
  constructor(
    private readonly db: Database,
    private readonly audit: AuditLog,
  ) {}

  /** Resolves the key presented with a request. The key itself is never logged or stored. */
  async authenticate(presented: string | undefined): Promise<Principal> {
    if (presented === undefined || presented === "") throw missingKey();
    if (!PRESENTED_KEY_PATTERN.test(presented)) throw badKey();
    const key = await findActiveKeyByHash(this.db, hashApiKey(presented));
    if (!key) throw badKey();
    return { keyId: key.id, ownerId: key.ownerId, role: key.role, name: key.name };
  }

  requireAdmin(principal: Principal): void {
    if (principal.role !== "admin") throw forbidden();
  }

  /** Creates a key and returns it in clear text: the only time it is ever visible. */
  async create(
    principal: Principal,
    input: CreateKeyInput,
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    this.requireAdmin(principal);
    const name = input.name.trim();
    if (name.length === 0 || name.length > LIMITS.keyNameLength) {
      throw invalidRequest(`name must have 1 to ${LIMITS.keyNameLength} characters`);
    }
    const role = input.role ?? "user";
    const defaults = role === "admin" ? ADMIN_KEY_DEFAULTS : USER_KEY_DEFAULTS;
    const pools: Pools = {
      vcpus: boundedInt("pools.vcpus", input.pools?.vcpus ?? defaults.pools.vcpus, LIMITS.pool.max),
      memoryMb: boundedInt(
        "pools.memoryMb",
        input.pools?.memoryMb ?? defaults.pools.memoryMb,
        LIMITS.pool.max,
      ),
      storageMb: boundedInt(
        "pools.storageMb",
        input.pools?.storageMb ?? defaults.pools.storageMb,
        LIMITS.pool.max,
      ),
    };
    const rate = boundedInt(
      "createRatePerMinute",
      input.createRatePerMinute ?? defaults.createRatePerMinute,
      LIMITS.createRatePerMinute.max,
    );
    const key = generateApiKey(input.format);
    const id = await this.db.transaction(async (tx) => {
      let ownerId = input.ownerId;
      if (ownerId !== undefined) {
        if (!OWNER_ID_PATTERN.test(ownerId) || !(await ownerExists(tx, ownerId))) {
          throw new ServiceError("owner_not_found", `owner ${ownerId} not found`);
        }
      } else {
        ownerId = await insertOwnerWithFreshId(tx, (input.ownerName ?? name).slice(0, 128));
      }
      return insertKeyWithFreshId(tx, {
        ownerId,
        name,
        keySha256: hashApiKey(key),
        role,
        pools,
        createRatePerMinute: rate,
        createdBy: principal.keyId,
      });
    });
    const record = (await findKey(this.db, id))!;
    await this.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "api_key.create",
      outcome: "ok",
      detail: { keyId: id, role, ownerId: record.ownerId, format: input.format ?? "wrenn" },
    });
    return { record, key };
  }

  async list(principal: Principal): Promise<ApiKeyRecord[]> {
    this.requireAdmin(principal);
    return listKeys(this.db);
  }

  async revoke(principal: Principal, id: string): Promise<void> {
    this.requireAdmin(principal);
    const notFound = new ServiceError("api_key_not_found", `API key ${id} not found`);
    if (!API_KEY_ID_PATTERN.test(id)) throw notFound;
    await this.db.transaction(async (tx) => {
      const key = await findKey(tx, id);
      if (!key) throw notFound;
      if (key.revokedAt) return;
      // Serialise revocations so two admins cannot revoke the last two admin keys at once.
      await lockActiveAdminKeys(tx);
      if (key.role === "admin" && (await countActiveAdmins(tx)) <= 1) {
        throw new ServiceError("last_admin_key", "cannot revoke the last active admin key");
      }
      await revokeKey(tx, id);
    });
    await this.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "api_key.revoke",
      outcome: "ok",
      detail: { keyId: id },
    });
  }

  async current(principal: Principal): Promise<{ record: ApiKeyRecord; usage: KeyUsage }> {
    return this.withUsage(principal.keyId);
  }

  /** Any key with what its sandboxes hold of its pools: an admin's view. */
  async usageOf(
    principal: Principal,
    keyId: string,
  ): Promise<{ record: ApiKeyRecord; usage: KeyUsage }> {
    if (keyId !== principal.keyId) this.requireAdmin(principal);
    return this.withUsage(keyId);
  }

  /** A key's record by its id alone, for an admin session that holds only the id (401 if gone). */
  async byId(keyId: string): Promise<ApiKeyRecord> {
    const record = await findKey(this.db, keyId);
    if (!record) throw badKey();
    return record;
  }

  private async withUsage(keyId: string): Promise<{ record: ApiKeyRecord; usage: KeyUsage }> {
    const record = await this.byId(keyId);
    const usage = await usageOfPools(this.db, record);
    return { record, usage };
  }
}

export interface BootstrapResult {
  /** The generated admin key, to print once; undefined when none was generated. */
  generatedKey?: string;
  createdKeyId?: string;
}

/**
 * On an empty database, creates the first admin key: WRENN_API_KEY when set, otherwise a random
 * one the caller prints once. Runs under the schema lock, so concurrent first starts make one.
 */
export async function bootstrapAdminKey(
  db: Queryable & { transaction: Database["transaction"] },
  configuredKey: string | undefined,
  logger: Logger,
): Promise<BootstrapResult> {
  if ((await countKeys(db)) > 0) {
    if (configuredKey && !(await findActiveKeyByHash(db, hashApiKey(configuredKey)))) {
      logger.warn(
        "WRENN_API_KEY is set but is not an active key; it only takes effect on an empty database",
      );
    }
    return {};
  }
  if (configuredKey !== undefined && !PRESENTED_KEY_PATTERN.test(configuredKey)) {
    throw new Error("WRENN_API_KEY must be 16 to 256 printable ASCII characters without spaces");
  }
  const key = configuredKey ?? generateApiKey();
  const id = await db.transaction(async (tx) => {
    const ownerId = await insertOwnerWithFreshId(tx, "admin");
    return insertKeyWithFreshId(tx, {
      ownerId,
      name: "admin",
      keySha256: hashApiKey(key),
      role: "admin",
      pools: ADMIN_KEY_DEFAULTS.pools,
      createRatePerMinute: ADMIN_KEY_DEFAULTS.createRatePerMinute,
      createdBy: null,
    });
  });
  logger.info(
    { keyId: id, source: configuredKey ? "WRENN_API_KEY" : "generated" },
    "first admin API key created",
  );
  return configuredKey ? { createdKeyId: id } : { generatedKey: key, createdKeyId: id };
}
