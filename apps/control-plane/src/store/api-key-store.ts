import type { Queryable } from "../db/database.js";

export interface Pools {
  vcpus: number;
  memoryMb: number;
  storageMb: number;
}

export interface ApiKeyRecord {
  id: string;
  ownerId: string;
  ownerName: string;
  name: string;
  role: "admin" | "user";
  pools: Pools;
  createRatePerMinute: number;
  createdBy: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  owner_id: string;
  owner_name: string;
  name: string;
  role: "admin" | "user";
  pool_vcpus: number;
  pool_memory_mb: number;
  pool_storage_mb: number;
  create_rate_per_minute: number;
  created_by: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

const SELECT = `SELECT k.id, k.owner_id, o.name AS owner_name, k.name, k.role, k.pool_vcpus,
  k.pool_memory_mb, k.pool_storage_mb, k.create_rate_per_minute, k.created_by, k.created_at,
  k.revoked_at FROM api_keys k JOIN owners o ON o.id = k.owner_id`;

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    ownerName: row.owner_name,
    name: row.name,
    role: row.role,
    pools: { vcpus: row.pool_vcpus, memoryMb: row.pool_memory_mb, storageMb: row.pool_storage_mb },
    createRatePerMinute: row.create_rate_per_minute,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export async function insertOwner(q: Queryable, id: string, name: string): Promise<boolean> {
  const result = await q.query(
    "INSERT INTO owners (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    [id, name],
  );
  return result.rowCount === 1;
}

export async function ownerExists(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query("SELECT 1 FROM owners WHERE id = $1", [id]);
  return result.rows.length === 1;
}

export interface NewApiKey {
  id: string;
  ownerId: string;
  name: string;
  keySha256: string;
  role: "admin" | "user";
  pools: Pools;
  createRatePerMinute: number;
  createdBy: string | null;
}

export async function insertApiKey(q: Queryable, k: NewApiKey): Promise<boolean> {
  const result = await q.query(
    `INSERT INTO api_keys (id, owner_id, name, key_sha256, role, pool_vcpus, pool_memory_mb,
       pool_storage_mb, create_rate_per_minute, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
    [
      k.id,
      k.ownerId,
      k.name,
      k.keySha256,
      k.role,
      k.pools.vcpus,
      k.pools.memoryMb,
      k.pools.storageMb,
      k.createRatePerMinute,
      k.createdBy,
    ],
  );
  return result.rowCount === 1;
}

export async function findActiveKeyByHash(
  q: Queryable,
  keySha256: string,
): Promise<ApiKeyRecord | null> {
  const result = await q.query<ApiKeyRow>(
    `${SELECT} WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL`,
    [keySha256],
  );
  const row = result.rows[0];
  return row ? toRecord(row) : null;
}

export async function findKey(q: Queryable, id: string): Promise<ApiKeyRecord | null> {
  const result = await q.query<ApiKeyRow>(`${SELECT} WHERE k.id = $1`, [id]);
  const row = result.rows[0];
  return row ? toRecord(row) : null;
}

/** Locks the key's row: creates by one key serialise here, so pool checks cannot interleave. */
export async function lockKey(q: Queryable, id: string): Promise<ApiKeyRecord | null> {
  const result = await q.query<ApiKeyRow>(`${SELECT} WHERE k.id = $1 FOR UPDATE OF k`, [id]);
  const row = result.rows[0];
  return row ? toRecord(row) : null;
}

export async function listKeys(q: Queryable): Promise<ApiKeyRecord[]> {
  const result = await q.query<ApiKeyRow>(`${SELECT} ORDER BY k.created_at, k.id`);
  return result.rows.map(toRecord);
}

export async function countKeys(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM api_keys");
  return result.rows[0]!.n;
}

/**
 * Locks every active admin key's row for the rest of the transaction, so two admins revoking
 * the last two admin keys at once are serialised (the second then sees one left).
 */
export async function lockActiveAdminKeys(q: Queryable): Promise<void> {
  await q.query("SELECT id FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL FOR UPDATE");
}

export async function countActiveAdmins(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL",
  );
  return result.rows[0]!.n;
}

export async function revokeKey(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query(
    "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    [id],
  );
  return result.rowCount === 1;
}
