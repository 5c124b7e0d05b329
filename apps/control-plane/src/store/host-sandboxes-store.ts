// SQL over a host's sandboxes as a set: what reconciliation, host deletion, host loss and a
// local stack's shutdown read and change for every sandbox of one host at once.
import type { Queryable } from "../db/database.js";
import type { SandboxState } from "../service/sandbox-types.js";
import { type SandboxRecord, type SandboxRow, toSandboxRecord } from "./sandbox-store.js";
import { sandboxesWritten } from "./sandbox-writes.js";

/** The database's clock: what a host's listing is compared against (rows changed after it). */
export async function databaseNow(q: Queryable): Promise<Date> {
  return (await q.query<{ now: Date }>("SELECT now() AS now")).rows[0]!.now;
}

export async function sandboxesOnHost(q: Queryable, hostId: string): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    "SELECT * FROM sandboxes WHERE host_id = $1 AND state <> 'stopped'",
    [hostId],
  );
  return result.rows.map(toSandboxRecord);
}

/** Sandboxes of a host whose operation (create, pause, resume...) has not finished. */
export async function inFlightOnHost(
  q: Queryable,
  hostId: string,
  inFlight: readonly SandboxState[],
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    "SELECT * FROM sandboxes WHERE host_id = $1 AND state = ANY($2::text[])",
    [hostId, inFlight],
  );
  return result.rows.map(toSandboxRecord);
}

export async function stoppedOnHost(
  q: Queryable,
  hostId: string,
  ids: string[],
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    "SELECT * FROM sandboxes WHERE host_id = $1 AND state = 'stopped' AND id = ANY($2::text[])",
    [hostId, ids],
  );
  return result.rows.map(toSandboxRecord);
}

/**
 * When a host goes offline its sandboxes become missing; reconciliation restores them. A
 * hibernated one lives in the artifact store, not on the host: it stays as it is.
 */
export async function markHostSandboxesMissing(db: Queryable, hostId: string): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `UPDATE sandboxes SET state = 'missing', state_changed_at = now()
     WHERE host_id = $1 AND state IN ('running', 'paused') RETURNING id`,
    [hostId],
  );
  sandboxesWritten(result.rows.map((r) => r.id));
  return result.rows.map((r) => r.id);
}

/** Marks every running sandbox of a host `pausing` (deadline in seconds) and returns them. */
export async function claimRunningOnHostForPause(
  q: Queryable,
  hostId: string,
  deadlineSeconds: number,
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    `UPDATE sandboxes SET state = 'pausing', state_changed_at = now(),
       op_deadline = now() + ($2::double precision * interval '1 second')
     WHERE host_id = $1 AND state = 'running' RETURNING *`,
    [hostId, deadlineSeconds],
  );
  sandboxesWritten(result.rows.map((r) => r.id));
  return result.rows.map(toSandboxRecord);
}
