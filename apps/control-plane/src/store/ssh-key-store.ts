import type { Queryable } from "../db/database.js";

export interface SshKeyRow {
  id: string;
  ownerId: string;
  name: string;
  keyType: string;
  canonical: string;
  publicKey: string;
  fingerprint: string;
  createdAt: Date;
}

const COLUMNS = "id, owner_id, name, key_type, canonical, public_key, fingerprint, created_at";

function toRow(r: Record<string, unknown>): SshKeyRow {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: r.name as string,
    keyType: r.key_type as string,
    canonical: r.canonical as string,
    publicKey: r.public_key as string,
    fingerprint: r.fingerprint as string,
    createdAt: new Date(r.created_at as string),
  };
}

/** The owner registered this key already (the table's unique (owner_id, canonical)). */
export class SshKeyTaken extends Error {}

export async function insertSshKey(
  db: Queryable,
  k: Omit<SshKeyRow, "createdAt">,
): Promise<SshKeyRow> {
  try {
    const r = await db.query(
      `INSERT INTO ssh_keys (id, owner_id, name, key_type, canonical, public_key, fingerprint)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [k.id, k.ownerId, k.name, k.keyType, k.canonical, k.publicKey, k.fingerprint],
    );
    return toRow(r.rows[0] as Record<string, unknown>);
  } catch (error) {
    if ((error as { code?: string }).code === "23505") throw new SshKeyTaken(k.fingerprint);
    throw error;
  }
}

export async function listSshKeys(db: Queryable, ownerId: string): Promise<SshKeyRow[]> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM ssh_keys WHERE owner_id = $1 ORDER BY created_at, id`,
    [ownerId],
  );
  return r.rows.map((row) => toRow(row as Record<string, unknown>));
}

export async function countSshKeys(db: Queryable, ownerId: string): Promise<number> {
  const r = await db.query("SELECT count(*) AS n FROM ssh_keys WHERE owner_id = $1", [ownerId]);
  return Number((r.rows[0] as { n: unknown }).n);
}

/** Deletes the owner's key; false when the owner has no such key. */
export async function deleteSshKey(db: Queryable, ownerId: string, id: string): Promise<boolean> {
  const r = await db.query("DELETE FROM ssh_keys WHERE owner_id = $1 AND id = $2 RETURNING id", [
    ownerId,
    id,
  ]);
  return r.rows.length > 0;
}
