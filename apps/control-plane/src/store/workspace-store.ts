import type { Queryable } from "../db/database.js";

export interface WorkspaceRecord {
  id: string;
  ownerId: string;
  name: string;
  image: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  sandboxId: string | null;
  /** Its sshd's host public key, once learnt (SSH_HOST_KEY_PATTERN). */
  sshHostKey: string | null;
  /** A move holds it until then (a lease: a control plane that died mid-move lets go). */
  movingUntil: Date | null;
  createdAt: Date;
}

const COLUMNS =
  "id, owner_id, name, image, vcpus, memory_mb, disk_gb, sandbox_id, ssh_host_key, moving_until, created_at";

function toWorkspaceRecord(r: Record<string, unknown>): WorkspaceRecord {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: r.name as string,
    image: r.image as string,
    vcpus: Number(r.vcpus),
    memoryMb: Number(r.memory_mb),
    diskGb: Number(r.disk_gb),
    sandboxId: (r.sandbox_id as string | null) ?? null,
    sshHostKey: (r.ssh_host_key as string | null) ?? null,
    movingUntil: r.moving_until ? new Date(r.moving_until as string) : null,
    createdAt: new Date(r.created_at as string),
  };
}

/** The name is the owner's already (the table's unique (owner_id, name)). */
export class WorkspaceNameTaken extends Error {}

export async function insertWorkspace(
  db: Queryable,
  w: Omit<WorkspaceRecord, "sandboxId" | "sshHostKey" | "movingUntil" | "createdAt">,
): Promise<WorkspaceRecord> {
  try {
    const r = await db.query(
      `INSERT INTO workspaces (id, owner_id, name, image, vcpus, memory_mb, disk_gb)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [w.id, w.ownerId, w.name, w.image, w.vcpus, w.memoryMb, w.diskGb],
    );
    return toWorkspaceRecord(r.rows[0] as Record<string, unknown>);
  } catch (error) {
    if ((error as { code?: string }).code === "23505") throw new WorkspaceNameTaken(w.name);
    throw error;
  }
}

/**
 * Links the workspace to its sandbox, with the host key read from that sandbox's disk (null:
 * unknown, learnt at the first SSH connection then).
 */
export async function setWorkspaceSandbox(
  db: Queryable,
  id: string,
  sandboxId: string,
  sshHostKey: string | null,
): Promise<WorkspaceRecord | undefined> {
  const r = await db.query(
    `UPDATE workspaces SET sandbox_id = $2, ssh_host_key = $3 WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, sandboxId, sshHostKey],
  );
  return r.rows[0] ? toWorkspaceRecord(r.rows[0] as Record<string, unknown>) : undefined;
}

/**
 * Pins the host key of the workspace this sandbox backs: its name and the previous key when
 * the key was unknown or changed, else undefined.
 */
export async function setWorkspaceHostKey(
  db: Queryable,
  ownerId: string,
  sandboxId: string,
  key: string,
): Promise<{ name: string; previous: string | null } | undefined> {
  const r = await db.query<{ name: string; previous: string | null }>(
    `UPDATE workspaces w SET ssh_host_key = $3
     FROM (SELECT id, ssh_host_key AS previous FROM workspaces
           WHERE owner_id = $1 AND sandbox_id = $2 FOR UPDATE) old
     WHERE w.id = old.id AND w.ssh_host_key IS DISTINCT FROM $3
     RETURNING w.name, old.previous`,
    [ownerId, sandboxId, key],
  );
  return r.rows[0];
}

/**
 * Marks a move under way for `seconds` unless one is already (a lease not yet run out): the
 * row when this caller holds it now, undefined when another move does. In PostgreSQL, so every
 * control plane sees it.
 */
export async function claimWorkspaceMove(
  db: Queryable,
  id: string,
  seconds: number,
): Promise<WorkspaceRecord | undefined> {
  const r = await db.query(
    `UPDATE workspaces SET moving_until = now() + make_interval(secs => $2)
     WHERE id = $1 AND (moving_until IS NULL OR moving_until < now()) RETURNING ${COLUMNS}`,
    [id, seconds],
  );
  return r.rows[0] ? toWorkspaceRecord(r.rows[0] as Record<string, unknown>) : undefined;
}

export async function releaseWorkspaceMove(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE workspaces SET moving_until = NULL WHERE id = $1", [id]);
}

/** Whether a move holds the workspace now (its lease, by the database's clock). */
export async function workspaceMoving(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query<{ moving: boolean }>(
    "SELECT moving_until IS NOT NULL AND moving_until > now() AS moving FROM workspaces WHERE id = $1",
    [id],
  );
  return r.rows[0]?.moving === true;
}

export async function findWorkspace(
  db: Queryable,
  ownerId: string,
  name: string,
): Promise<WorkspaceRecord | undefined> {
  const r = await db.query(`SELECT ${COLUMNS} FROM workspaces WHERE owner_id = $1 AND name = $2`, [
    ownerId,
    name,
  ]);
  return r.rows[0] ? toWorkspaceRecord(r.rows[0] as Record<string, unknown>) : undefined;
}

/** An owner's workspaces, or every owner's when none is given (the admin UI's reach). */
export async function listWorkspaces(
  db: Queryable,
  ownerId: string | undefined,
): Promise<WorkspaceRecord[]> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM workspaces WHERE ($1::text IS NULL OR owner_id = $1)
     ORDER BY name, owner_id`,
    [ownerId ?? null],
  );
  return r.rows.map((row) => toWorkspaceRecord(row as Record<string, unknown>));
}

export async function deleteWorkspace(db: Queryable, id: string): Promise<void> {
  await db.query("DELETE FROM workspaces WHERE id = $1", [id]);
}

/** An owner's workspaces counted by the state of the sandbox under each. */
export async function countWorkspacesBySandboxState(
  db: Queryable,
  ownerId: string,
): Promise<Map<string, number>> {
  const r = await db.query<{ state: string; n: string }>(
    `SELECT s.state, count(*) AS n FROM workspaces w JOIN sandboxes s ON s.id = w.sandbox_id
     WHERE w.owner_id = $1 GROUP BY s.state`,
    [ownerId],
  );
  return new Map(r.rows.map(({ state, n }) => [state, Number(n)]));
}

/** The name of the workspace this sandbox backs (within the owner, when one is given). */
export async function workspaceOfSandbox(
  db: Queryable,
  sandboxId: string,
  ownerId: string | undefined,
): Promise<string | undefined> {
  const r = await db.query<{ name: string }>(
    `SELECT name FROM workspaces WHERE sandbox_id = $1 AND ($2::text IS NULL OR owner_id = $2)`,
    [sandboxId, ownerId ?? null],
  );
  return r.rows[0]?.name;
}
