import { LIMITS, type TemplateBuildStatus, type TemplateLogEntry } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";

export interface TemplateRecord {
  id: string;
  ownerId: string;
  name: string;
  tag: string;
  fromImage: string;
  status: TemplateBuildStatus;
  step: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  errorStep: string | null;
  vcpus: number;
  memoryMb: number;
  hostId: string | null;
  /** The agent's template sandboxes are created from; null until a build succeeded. */
  hostTemplate: string | null;
  /** The agent's name for the build running now. */
  buildingHostTemplate: string | null;
  /** The build this row's status is about (E2B's buildID); a tag's row keeps its target's. */
  buildId: string;
  buildStartedAt: Date;
  buildFinishedAt: Date | null;
  buildCount: number;
  /** What the build of hostTemplate takes on its host's disk; null until one succeeded. */
  sizeBytes: number | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, owner_id, name, tag, from_image, status, step, error_code, error_message,
  error_step, vcpus, memory_mb, host_id, host_template, building_host_template, build_id,
  build_started_at, build_finished_at, build_count, size_bytes, created_at, updated_at`;

function toTemplateRecord(r: Record<string, unknown>): TemplateRecord {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: r.name as string,
    tag: r.tag as string,
    fromImage: r.from_image as string,
    status: r.status as TemplateBuildStatus,
    step: (r.step as string | null) ?? null,
    errorCode: (r.error_code as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    errorStep: (r.error_step as string | null) ?? null,
    vcpus: Number(r.vcpus),
    memoryMb: Number(r.memory_mb),
    hostId: (r.host_id as string | null) ?? null,
    hostTemplate: (r.host_template as string | null) ?? null,
    buildingHostTemplate: (r.building_host_template as string | null) ?? null,
    buildId: r.build_id as string,
    buildStartedAt: new Date(r.build_started_at as string),
    buildFinishedAt: r.build_finished_at ? new Date(r.build_finished_at as string) : null,
    buildCount: Number(r.build_count),
    sizeBytes: r.size_bytes === null || r.size_bytes === undefined ? null : Number(r.size_bytes),
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  };
}

export async function findTemplate(
  db: Queryable,
  ownerId: string,
  name: string,
  tag: string,
): Promise<TemplateRecord | undefined> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM templates WHERE owner_id = $1 AND name = $2 AND tag = $3`,
    [ownerId, name, tag],
  );
  return r.rows[0] ? toTemplateRecord(r.rows[0]) : undefined;
}

export async function findTemplateById(
  db: Queryable,
  ownerId: string,
  id: string,
): Promise<TemplateRecord | undefined> {
  const r = await db.query(`SELECT ${COLUMNS} FROM templates WHERE owner_id = $1 AND id = $2`, [
    ownerId,
    id,
  ]);
  return r.rows[0] ? toTemplateRecord(r.rows[0]) : undefined;
}

/** The owner's templates; every owner's when ownerId is undefined (the admin UI's). */
export async function listTemplates(
  db: Queryable,
  ownerId: string | undefined,
): Promise<TemplateRecord[]> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM templates WHERE ($1::text IS NULL OR owner_id = $1)
     ORDER BY name, tag, owner_id`,
    [ownerId ?? null],
  );
  return r.rows.map(toTemplateRecord);
}

/** Every tag of the owner's template `name`. */
export async function listTemplatesNamed(
  db: Queryable,
  ownerId: string,
  name: string,
): Promise<TemplateRecord[]> {
  const r = await db.query(
    `SELECT ${COLUMNS} FROM templates WHERE owner_id = $1 AND name = $2 ORDER BY tag`,
    [ownerId, name],
  );
  return r.rows.map(toTemplateRecord);
}

/**
 * Starts a build of `name:tag`: a new row, or the existing one set building again. Nothing
 * (undefined) when that template is being built already, or when the owner already runs
 * `maxBuilding` builds; the count is in the same statement as the insert.
 */
export async function beginBuild(
  db: Queryable,
  t: {
    id: string;
    ownerId: string;
    name: string;
    tag: string;
    fromImage: string;
    vcpus: number;
    memoryMb: number;
    hostId: string;
    buildingHostTemplate: string;
    buildId: string;
    /** The control plane following the build (control-plane id). */
    follower: string;
    maxBuilding: number;
  },
): Promise<TemplateRecord | undefined> {
  const r = await db.query(
    `INSERT INTO templates (id, owner_id, name, tag, from_image, status, step, vcpus, memory_mb,
       host_id, building_host_template, build_id, build_started_at, build_follower,
       build_heartbeat_at)
     SELECT $1, $2, $3, $4, $5, 'building', 'queued', $6, $7, $8, $9, $11, now(), $12, now()
     WHERE (SELECT count(*) FROM templates WHERE owner_id = $2 AND status = 'building') < $10
     ON CONFLICT (owner_id, name, tag) DO UPDATE SET
       from_image = EXCLUDED.from_image, status = 'building', step = 'queued',
       error_code = NULL, error_message = NULL, error_step = NULL, vcpus = EXCLUDED.vcpus,
       memory_mb = EXCLUDED.memory_mb, building_host_template = EXCLUDED.building_host_template,
       build_id = EXCLUDED.build_id, build_started_at = now(), build_finished_at = NULL,
       build_follower = EXCLUDED.build_follower, build_heartbeat_at = now(),
       build_count = templates.build_count + 1,
       logs = '[]'::jsonb, updated_at = now()
     WHERE templates.status <> 'building'
     RETURNING ${COLUMNS}`,
    [
      t.id,
      t.ownerId,
      t.name,
      t.tag,
      t.fromImage,
      t.vcpus,
      t.memoryMb,
      t.hostId,
      t.buildingHostTemplate,
      t.maxBuilding,
      t.buildId,
      t.follower,
    ],
  );
  return r.rows[0] ? toTemplateRecord(r.rows[0]) : undefined;
}

export async function appendLogs(
  db: Queryable,
  id: string,
  step: string,
  entries: TemplateLogEntry[],
): Promise<void> {
  // The newest lines are kept: a build's end says why it ended.
  await db.query(
    `UPDATE templates SET step = $2, updated_at = now(),
       logs = (SELECT COALESCE(jsonb_agg(e ORDER BY n), '[]'::jsonb) FROM (
         SELECT e, n FROM jsonb_array_elements(logs || $3::jsonb) WITH ORDINALITY AS x(e, n)
         ORDER BY n DESC LIMIT $4) kept)
     WHERE id = $1`,
    [id, step, JSON.stringify(entries), LIMITS.templateBuildLogLines],
  );
}

export async function readLogs(
  db: Queryable,
  id: string,
  offset: number,
  limit: number,
): Promise<{ logs: TemplateLogEntry[]; total: number }> {
  const r = await db.query<{ logs: TemplateLogEntry[]; total: number }>(
    `SELECT COALESCE((SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(logs)
       WITH ORDINALITY AS x(e, n) WHERE n > $2 AND n <= $2 + $3), '[]'::jsonb) AS logs,
       jsonb_array_length(logs) AS total
     FROM templates WHERE id = $1`,
    [id, offset, limit],
  );
  const row = r.rows[0];
  return { logs: row?.logs ?? [], total: Number(row?.total ?? 0) };
}

export async function finishBuild(
  db: Queryable,
  id: string,
  outcome:
    | { ok: true; hostTemplate: string; sizeBytes: number }
    | { ok: false; code: string; message: string; step: string | null },
): Promise<void> {
  if (outcome.ok) {
    await db.query(
      `UPDATE templates SET status = 'ready', step = 'done', host_template = $2, size_bytes = $3,
         building_host_template = NULL, build_finished_at = now(), updated_at = now()
       WHERE id = $1`,
      [id, outcome.hostTemplate, outcome.sizeBytes],
    );
  } else {
    await db.query(
      `UPDATE templates SET status = 'error', error_code = $2, error_message = $3,
         error_step = $4, building_host_template = NULL, build_finished_at = now(),
         updated_at = now() WHERE id = $1`,
      [id, outcome.code, outcome.message, outcome.step],
    );
  }
}

export async function deleteTemplateRow(db: Queryable, id: string): Promise<void> {
  await db.query("DELETE FROM templates WHERE id = $1", [id]);
}

/**
 * Names `target`'s build `name:tag` too (E2B's assignTags): a new row, or the existing one of
 * that tag pointed at the build. Undefined when that tag's own build is running. Returns the
 * host template the tag named before, which may now be unreferenced.
 */
export async function assignTag(
  db: Queryable,
  target: TemplateRecord,
  tag: string,
  id: string,
): Promise<{ row: TemplateRecord; previousHostTemplate: string | null } | undefined> {
  const before = await findTemplate(db, target.ownerId, target.name, tag);
  const r = await db.query(
    `INSERT INTO templates (id, owner_id, name, tag, from_image, status, step, vcpus, memory_mb,
       host_id, host_template, build_id, build_started_at, build_finished_at, build_count,
       size_bytes)
     SELECT $1, owner_id, name, $3, from_image, 'ready', 'done', vcpus, memory_mb, host_id,
       host_template, build_id, build_started_at, build_finished_at, build_count, size_bytes
     FROM templates WHERE id = $2
     ON CONFLICT (owner_id, name, tag) DO UPDATE SET
       from_image = EXCLUDED.from_image, status = 'ready', step = 'done', error_code = NULL,
       error_message = NULL, error_step = NULL, vcpus = EXCLUDED.vcpus,
       memory_mb = EXCLUDED.memory_mb, host_id = EXCLUDED.host_id,
       host_template = EXCLUDED.host_template, build_id = EXCLUDED.build_id,
       build_started_at = EXCLUDED.build_started_at,
       build_finished_at = EXCLUDED.build_finished_at, build_count = EXCLUDED.build_count,
       size_bytes = EXCLUDED.size_bytes, logs = '[]'::jsonb, updated_at = now()
     WHERE templates.status <> 'building'
     RETURNING ${COLUMNS}`,
    [id, target.id, tag],
  );
  if (!r.rows[0]) return undefined;
  const row = toTemplateRecord(r.rows[0]);
  const previous = before?.hostTemplate ?? null;
  return { row, previousHostTemplate: previous !== row.hostTemplate ? previous : null };
}

/** Whether any row (but `exceptId`) still names host template `hostTemplate` (tags share builds). */
export async function hostTemplateNamed(
  db: Queryable,
  hostTemplate: string,
  exceptId = "",
): Promise<boolean> {
  const r = await db.query(
    `SELECT 1 FROM templates
     WHERE (host_template = $1 OR building_host_template = $1) AND id <> $2 LIMIT 1`,
    [hostTemplate, exceptId],
  );
  return r.rows.length > 0;
}

/**
 * MiB the owner's template builds take on their hosts: each build once, however many rows
 * (tags) name it. A build's size is rounded up to whole MiB, as templateView shows it.
 */
export async function templateStorageMb(q: Queryable, ownerId: string): Promise<number> {
  const r = await q.query<{ mb: number }>(
    `SELECT coalesce(sum(mb), 0)::int AS mb FROM (
       SELECT DISTINCT ON (host_id, host_template) ceil(size_bytes / 1048576.0) AS mb
       FROM templates
       WHERE owner_id = $1 AND host_template IS NOT NULL AND size_bytes IS NOT NULL
       ORDER BY host_id, host_template) builds`,
    [ownerId],
  );
  return Number(r.rows[0]?.mb ?? 0);
}

/** A build's size in MiB as views and pools count it (rounded up); null when unknown. */
export const sizeMbOf = (bytes: number | null): number | null =>
  bytes === null ? null : Math.ceil(bytes / (1024 * 1024));
