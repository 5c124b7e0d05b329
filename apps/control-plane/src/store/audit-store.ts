import type { Queryable } from "../db/database.js";

export interface AuditEvent {
  actor: "api" | "lifecycle" | "reconciler" | "system" | "proxy";
  ownerId?: string | null;
  apiKeyId?: string | null;
  action: string;
  sandboxId?: string | null;
  outcome: "ok" | "error" | "deferred";
  durationMs?: number | null;
  detail?: Record<string, unknown>;
}

export async function insertAuditEvent(q: Queryable, e: AuditEvent): Promise<void> {
  await q.query(
    `INSERT INTO audit_events (actor, owner_id, api_key_id, action, sandbox_id, outcome,
       duration_ms, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
    [
      e.actor,
      e.ownerId ?? null,
      e.apiKeyId ?? null,
      e.action,
      e.sandboxId ?? null,
      e.outcome,
      e.durationMs === undefined || e.durationMs === null ? null : Math.round(e.durationMs),
      JSON.stringify(e.detail ?? {}),
    ],
  );
}

/** An audit event as stored; `id` is the bigserial as text (it orders events and pages them). */
export interface AuditRecord extends AuditEvent {
  id: string;
  at: Date;
}

export interface AuditFilter {
  sandboxId?: string;
  /** Only events older than this id (keyset paging, newest first). */
  beforeId?: string;
  limit: number;
}

interface AuditRow {
  id: string;
  at: Date;
  actor: AuditEvent["actor"];
  owner_id: string | null;
  api_key_id: string | null;
  action: string;
  sandbox_id: string | null;
  outcome: AuditEvent["outcome"];
  duration_ms: number | null;
  detail: Record<string, unknown>;
}

/** Newest first; up to limit rows. */
export async function listAuditEvents(q: Queryable, f: AuditFilter): Promise<AuditRecord[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (f.sandboxId !== undefined) {
    values.push(f.sandboxId);
    where.push(`sandbox_id = $${values.length}`);
  }
  if (f.beforeId !== undefined) {
    values.push(f.beforeId);
    where.push(`id < $${values.length}::bigint`);
  }
  values.push(f.limit);
  const result = await q.query<AuditRow>(
    `SELECT id::text AS id, at, actor, owner_id, api_key_id, action, sandbox_id, outcome,
       duration_ms, detail FROM audit_events
     ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY audit_events.id DESC LIMIT $${values.length}`,
    values,
  );
  return result.rows.map((r) => ({
    id: r.id,
    at: r.at,
    actor: r.actor,
    ownerId: r.owner_id,
    apiKeyId: r.api_key_id,
    action: r.action,
    sandboxId: r.sandbox_id,
    outcome: r.outcome,
    durationMs: r.duration_ms,
    detail: r.detail,
  }));
}
