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
