import type { Queryable } from "../db/database.js";
import { type SandboxRecord, type SandboxRow, toSandboxRecord } from "./sandbox-store.js";

/**
 * Claims paused sandboxes to hibernate: those idle for at least idleSeconds (null: none for
 * idleness) and every one on a drained host (draining moves them off it). Each is
 * leased (op_deadline) for leaseSeconds, so several control planes take disjoint rows (SKIP
 * LOCKED) and a hibernation that failed (the store was down) is tried again once the lease is
 * over. The state stays paused until the host has stored it.
 */
export async function claimIdlePaused(
  q: Queryable,
  limit: number,
  idleSeconds: number | null,
  leaseSeconds: number,
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    `UPDATE sandboxes s SET op_deadline = now() + ($3::double precision * interval '1 second')
     WHERE s.id IN (
       SELECT id FROM sandboxes
        WHERE state = 'paused' AND host_id IS NOT NULL
          AND (($2::double precision IS NOT NULL
                AND state_changed_at <= now() - ($2::double precision * interval '1 second'))
               OR host_id IN (SELECT id FROM hosts WHERE drained))
          AND (op_deadline IS NULL OR op_deadline <= now())
        ORDER BY state_changed_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING s.*`,
    [limit, idleSeconds, leaseSeconds],
  );
  return result.rows.map(toSandboxRecord);
}
