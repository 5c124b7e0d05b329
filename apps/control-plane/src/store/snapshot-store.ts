import type { Queryable } from "../db/database.js";
import type { ListPosition } from "./sandbox-store.js";

/** A snapshot as the services and routes use it: the snapshots table row, mapped (toSnapshotRecord). */
export interface SnapshotRecord {
  id: string;
  ownerId: string;
  name: string | null;
  sourceSandboxId: string;
  hostId: string;
  template: string;
  vcpus: number;
  memoryMb: number;
  diskMb: number;
  sizeBytes: number;
  /**
   * When its host reported the upload to the shared artifact store done: from then on any host
   * can restore it, and it outlives host_id. Null: on host_id only.
   */
  storedAt: Date | null;
  createdAt: Date;
}

const COLUMNS = `id, owner_id, name, source_sandbox_id, host_id, template, vcpus, memory_mb,
  disk_mb, size_bytes, stored_at, created_at`;

function toSnapshotRecord(r: Record<string, unknown>): SnapshotRecord {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: (r.name as string | null) ?? null,
    sourceSandboxId: r.source_sandbox_id as string,
    hostId: r.host_id as string,
    template: r.template as string,
    vcpus: Number(r.vcpus),
    memoryMb: Number(r.memory_mb),
    diskMb: Number(r.disk_mb),
    sizeBytes: Number(r.size_bytes),
    storedAt: r.stored_at ? new Date(r.stored_at as string) : null,
    createdAt: new Date(r.created_at as string),
  };
}

export async function insertSnapshot(
  db: Queryable,
  row: Omit<SnapshotRecord, "createdAt" | "storedAt"> & { stored: boolean },
): Promise<SnapshotRecord> {
  // Milliseconds: list cursors carry created_at and must find the row again exactly.
  const r = await db.query(
    `INSERT INTO snapshots (id, owner_id, name, source_sandbox_id, host_id, template, vcpus,
       memory_mb, disk_mb, size_bytes, stored_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $11::boolean THEN now() END,
       date_trunc('milliseconds', now()))
     RETURNING ${COLUMNS}`,
    [
      row.id,
      row.ownerId,
      row.name,
      row.sourceSandboxId,
      row.hostId,
      row.template,
      row.vcpus,
      row.memoryMb,
      row.diskMb,
      row.sizeBytes,
      row.stored,
    ],
  );
  return toSnapshotRecord(r.rows[0] as Record<string, unknown>);
}

/** The owner's snapshot by id; another owner's is not found, as an unknown one. */
export async function findSnapshot(
  db: Queryable,
  ownerId: string,
  id: string,
): Promise<SnapshotRecord | undefined> {
  const r = await db.query(`SELECT ${COLUMNS} FROM snapshots WHERE owner_id = $1 AND id = $2`, [
    ownerId,
    id,
  ]);
  return r.rows[0] ? toSnapshotRecord(r.rows[0]) : undefined;
}

/** A snapshot by id, whoever owns it (host administration). */
export async function findSnapshotById(
  db: Queryable,
  id: string,
): Promise<SnapshotRecord | undefined> {
  const r = await db.query(`SELECT ${COLUMNS} FROM snapshots WHERE id = $1`, [id]);
  return r.rows[0] ? toSnapshotRecord(r.rows[0]) : undefined;
}

/** Newest first; `after` is the last row of the previous page. */
export async function listSnapshots(
  db: Queryable,
  ownerId: string,
  filter: { sourceSandboxId?: string; name?: string; limit: number; after?: ListPosition },
): Promise<SnapshotRecord[]> {
  const where = ["owner_id = $1"];
  const params: unknown[] = [ownerId];
  if (filter.sourceSandboxId !== undefined) {
    params.push(filter.sourceSandboxId);
    where.push(`source_sandbox_id = $${params.length}`);
  }
  if (filter.name !== undefined) {
    params.push(filter.name);
    where.push(`name = $${params.length}`);
  }
  if (filter.after) {
    params.push(filter.after.startedAt.toISOString(), filter.after.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(filter.limit);
  const r = await db.query(
    `SELECT ${COLUMNS} FROM snapshots WHERE ${where.join(" AND ")}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toSnapshotRecord);
}

export async function deleteSnapshotRow(db: Queryable, ownerId: string, id: string) {
  const r = await db.query("DELETE FROM snapshots WHERE owner_id = $1 AND id = $2", [ownerId, id]);
  return r.rowCount > 0;
}

/** Records that the snapshot's host reported its upload to the shared store done. */
export async function markSnapshotStored(q: Queryable, id: string): Promise<void> {
  await q.query("UPDATE snapshots SET stored_at = now() WHERE id = $1 AND stored_at IS NULL", [id]);
}

/**
 * Ids of the snapshots only this host holds (not on the shared store), of every owner: a host
 * delete lists them. A stored one outlives its host.
 */
export async function snapshotIdsOnlyOnHost(q: Queryable, hostId: string): Promise<string[]> {
  const result = await q.query<{ id: string }>(
    "SELECT id FROM snapshots WHERE host_id = $1 AND stored_at IS NULL ORDER BY id",
    [hostId],
  );
  return result.rows.map((r) => r.id);
}

/** Removes the records of the snapshots only this host held (their artifacts went with it). */
export async function deleteSnapshotRowsOnlyOnHost(
  q: Queryable,
  hostId: string,
): Promise<string[]> {
  const result = await q.query<{ id: string }>(
    "DELETE FROM snapshots WHERE host_id = $1 AND stored_at IS NULL RETURNING id",
    [hostId],
  );
  return result.rows.map((r) => r.id).sort();
}
