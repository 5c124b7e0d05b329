import type { Queryable } from "../db/database.js";

/** A secret's record without its value (what every read but the resolver needs). */
export interface SecretRow {
  id: string;
  ownerId: string;
  name: string;
  currentVersion: number;
  metadata: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = "id, owner_id, name, current_version, metadata, created_at, updated_at";

function toRow(r: Record<string, unknown>): SecretRow {
  const metadata = typeof r.metadata === "string" ? JSON.parse(r.metadata) : r.metadata;
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: r.name as string,
    currentVersion: Number(r.current_version),
    metadata: (metadata ?? {}) as Record<string, string>,
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  };
}

/** The owner has a secret of that name already (the table's unique (owner_id, name)). */
export class SecretNameTaken extends Error {}

/**
 * Inserts a secret unless the owner has `maxPerOwner` already: undefined then. One statement,
 * so the count and the insert see the same table (two racing creates may still both pass
 * the count by one row; the limit is a guard against runaway scripts, not a quota).
 */
export async function insertSecret(
  db: Queryable,
  s: Omit<SecretRow, "currentVersion" | "updatedAt"> & { sealedValue: string },
  maxPerOwner: number,
): Promise<SecretRow | undefined> {
  try {
    const r = await db.query(
      `INSERT INTO secrets (id, owner_id, name, current_version, sealed_value, metadata,
         created_at, updated_at)
       SELECT $1, $2, $3, 1, $4, $5::jsonb, $6, $6
       WHERE (SELECT count(*) FROM secrets WHERE owner_id = $2) < $7
       RETURNING ${COLUMNS}`,
      [
        s.id,
        s.ownerId,
        s.name,
        s.sealedValue,
        JSON.stringify(s.metadata),
        s.createdAt.toISOString(),
        maxPerOwner,
      ],
    );
    const row = r.rows[0] as Record<string, unknown> | undefined;
    return row ? toRow(row) : undefined;
  } catch (error) {
    if ((error as { code?: string }).code === "23505") throw new SecretNameTaken(s.name);
    throw error;
  }
}

/** `ref` is an id when `byId`, else a (lower-cased) name. */
const refColumn = (byId: boolean) => (byId ? "id" : "name");

export async function findSecret(
  db: Queryable,
  ownerId: string,
  ref: { byId: boolean; value: string },
): Promise<SecretRow | undefined> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM secrets WHERE owner_id = $1 AND ${refColumn(ref.byId)} = $2`,
    [ownerId, ref.value],
  );
  const row = r.rows[0] as Record<string, unknown> | undefined;
  return row ? toRow(row) : undefined;
}

/**
 * Writes a new version: the value replaced, the version counted up, the metadata replaced
 * when given. One statement, so concurrent updates each get their own version number.
 */
export async function updateSecret(
  db: Queryable,
  ownerId: string,
  ref: { byId: boolean; value: string },
  change: { sealedValue: string; metadata?: Record<string, string>; at: Date },
): Promise<SecretRow | undefined> {
  const r = await db.query(
    `UPDATE secrets SET current_version = current_version + 1, sealed_value = $3,
       metadata = COALESCE($4::jsonb, metadata), updated_at = $5
     WHERE owner_id = $1 AND ${refColumn(ref.byId)} = $2 RETURNING ${COLUMNS}`,
    [
      ownerId,
      ref.value,
      change.sealedValue,
      change.metadata === undefined ? null : JSON.stringify(change.metadata),
      change.at.toISOString(),
    ],
  );
  const row = r.rows[0] as Record<string, unknown> | undefined;
  return row ? toRow(row) : undefined;
}

export async function deleteSecret(
  db: Queryable,
  ownerId: string,
  ref: { byId: boolean; value: string },
): Promise<SecretRow | undefined> {
  const r = await db.query(
    `DELETE FROM secrets WHERE owner_id = $1 AND ${refColumn(ref.byId)} = $2 RETURNING ${COLUMNS}`,
    [ownerId, ref.value],
  );
  const row = r.rows[0] as Record<string, unknown> | undefined;
  return row ? toRow(row) : undefined;
}

/** One page in creation order, after (createdAt, id) when given. */
export async function listSecrets(
  db: Queryable,
  ownerId: string,
  page: { limit: number; after?: { createdAt: Date; id: string } },
): Promise<SecretRow[]> {
  const after = page.after;
  const r = after
    ? await db.query(
        `SELECT ${COLUMNS} FROM secrets WHERE owner_id = $1 AND (created_at, id) > ($2, $3)
         ORDER BY created_at, id LIMIT $4`,
        [ownerId, after.createdAt.toISOString(), after.id, page.limit],
      )
    : await db.query(
        `SELECT ${COLUMNS} FROM secrets WHERE owner_id = $1 ORDER BY created_at, id LIMIT $2`,
        [ownerId, page.limit],
      );
  return r.rows.map((row) => toRow(row as Record<string, unknown>));
}

/** The sealed current values of the named secrets the owner has (missing names are absent). */
export async function sealedValuesByName(
  db: Queryable,
  ownerId: string,
  names: string[],
): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  // IN ($2, $3, …) rather than an array parameter: PGlite and node-postgres agree on it.
  const marks = names.map((_, i) => `$${i + 2}`).join(", ");
  const r = await db.query<{ name: string; sealed_value: string }>(
    `SELECT name, sealed_value FROM secrets WHERE owner_id = $1 AND name IN (${marks})`,
    [ownerId, ...names],
  );
  return new Map(r.rows.map((row) => [row.name, row.sealed_value]));
}
