import { canTransition, type SandboxErrorReason, type SandboxStopReason } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import type { EgressRules, Sandbox, SandboxState } from "../service/sandbox-types.js";
import { sandboxesWritten } from "./sandbox-writes.js";

/**
 * A sandbox as the services use it: the public record and what only the service reads (the
 * sealed envd token, the in-flight deadline). The one mapping from the table is toSandboxRecord.
 */
export interface SandboxRecord extends Sandbox {
  envdTokenSealed: string;
  opDeadline: Date | null;
}

/** The sandboxes table's row as the driver returns it: read only by the store (store/). */
export interface SandboxRow {
  id: string;
  name: string | null;
  owner_id: string;
  api_key_id: string;
  template: string;
  state: SandboxState;
  vcpus: number;
  memory_mb: number;
  disk_mb: number;
  metadata: Record<string, string>;
  env_var_names: string[];
  allow_internet: boolean;
  network: EgressRules;
  auto_pause: boolean;
  auto_resume: boolean;
  timeout_seconds: number;
  envd_version: string | null;
  envd_token_sealed: string;
  host_id: string | null;
  started_at: Date;
  end_at: Date;
  state_changed_at: Date;
  op_deadline: Date | null;
  error: string | null;
  error_reason: SandboxErrorReason | null;
  stop_reason: SandboxStopReason | null;
  created_at: Date;
  stopped_at: Date | null;
}

/** The public record, without what only the service reads. */
export function toSandbox(record: SandboxRecord): Sandbox {
  const { envdTokenSealed: _sealed, opDeadline: _deadline, ...sandbox } = record;
  return sandbox;
}

export function toSandboxRecord(row: SandboxRow): SandboxRecord {
  return {
    id: row.id,
    name: row.name,
    ownerId: row.owner_id,
    apiKeyId: row.api_key_id,
    template: row.template,
    state: row.state,
    resources: { vcpus: row.vcpus, memoryMb: row.memory_mb, diskMb: row.disk_mb },
    metadata: row.metadata,
    envVarNames: row.env_var_names,
    allowInternet: row.allow_internet,
    network: row.network,
    autoPause: row.auto_pause,
    autoResume: row.auto_resume,
    timeoutSeconds: row.timeout_seconds,
    envdVersion: row.envd_version,
    hostId: row.host_id,
    startedAt: row.started_at,
    endAt: row.end_at,
    stateChangedAt: row.state_changed_at,
    createdAt: row.created_at,
    stoppedAt: row.stopped_at,
    error: row.error,
    errorReason: row.error_reason,
    stopReason: row.stop_reason,
    envdTokenSealed: row.envd_token_sealed,
    opDeadline: row.op_deadline,
  };
}

/** The first row mapped, or null. */
export function firstRecord(rows: SandboxRow[]): SandboxRecord | null {
  const row = rows[0];
  return row ? toSandboxRecord(row) : null;
}

/** Parameter builder: every value goes through a placeholder, never into the SQL text. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const seconds = (placeholder: string) => `(${placeholder}::double precision * interval '1 second')`;

/** What a create writes; the database sets the times. */
export interface NewSandbox
  extends Pick<
    SandboxRecord,
    | "id"
    | "name"
    | "ownerId"
    | "apiKeyId"
    | "template"
    | "state"
    | "resources"
    | "metadata"
    | "envVarNames"
    | "allowInternet"
    | "network"
    | "autoPause"
    | "autoResume"
    | "timeoutSeconds"
    | "envdTokenSealed"
    | "hostId"
  > {
  opDeadlineSeconds: number | null;
}

/** The unique index that keeps a name to one live sandbox per owner (migration 0005). */
const LIVE_NAME_INDEX = "sandboxes_live_name";

/** The name is held by another live sandbox of the owner (thrown by insertSandbox). */
export class NameTakenError extends Error {
  constructor(readonly sandboxName: string) {
    super(`sandbox name ${sandboxName} is taken`);
  }
}

function isLiveNameClash(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  return (
    e?.code === "23505" &&
    (e.constraint === LIVE_NAME_INDEX ||
      (typeof e.message === "string" && e.message.includes(LIVE_NAME_INDEX)))
  );
}

/**
 * Returns null when the id is taken (the caller draws another); throws NameTakenError when the
 * name is (the index decides, so two concurrent creates cannot both get it).
 */
export async function insertSandbox(q: Queryable, s: NewSandbox): Promise<SandboxRecord | null> {
  const result = await q
    .query<SandboxRow>(
      `INSERT INTO sandboxes (id, owner_id, api_key_id, template, state, vcpus, memory_mb, disk_mb,
       metadata, env_var_names, allow_internet, auto_pause, timeout_seconds, envd_token_sealed,
       host_id, network, started_at, end_at, op_deadline, name, auto_resume)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::text[], $11, $12, $13, $14, $15,
       $17::jsonb, date_trunc('milliseconds', now()), now() + ${seconds("$18")},
       CASE WHEN $16::double precision IS NULL THEN NULL ELSE now() + ${seconds("$16")} END, $19,
       $20)
     ON CONFLICT (id) DO NOTHING
     RETURNING *`,
      [
        s.id,
        s.ownerId,
        s.apiKeyId,
        s.template,
        s.state,
        s.resources.vcpus,
        s.resources.memoryMb,
        s.resources.diskMb,
        JSON.stringify(s.metadata),
        s.envVarNames,
        s.allowInternet,
        s.autoPause,
        s.timeoutSeconds,
        s.envdTokenSealed,
        s.hostId,
        s.opDeadlineSeconds,
        JSON.stringify(s.network),
        s.timeoutSeconds,
        s.name,
        s.autoResume,
      ],
    )
    .catch((error: unknown) => {
      if (s.name !== null && isLiveNameClash(error)) throw new NameTakenError(s.name);
      throw error;
    });
  return firstRecord(result.rows);
}

/**
 * The sandbox an owner's name refers to: the one holding it (not stopping, stopped or failed),
 * else the newest that ended with it, so an ended sandbox's record stays reachable by name.
 */
export async function findSandboxByName(
  q: Queryable,
  ownerId: string,
  name: string,
): Promise<SandboxRecord | null> {
  const result = await q.query<SandboxRow>(
    `SELECT * FROM sandboxes WHERE owner_id = $1 AND name = $2
     ORDER BY (state IN ('stopping', 'stopped', 'error')), started_at DESC, id DESC LIMIT 1`,
    [ownerId, name],
  );
  return firstRecord(result.rows);
}

/**
 * Removes a sandbox that never came to exist: its host refused the create. Only a row still
 * starting goes, so a concurrent destroy (or anything else that moved it) keeps its record.
 */
export async function deleteRefusedSandbox(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query(`DELETE FROM sandboxes WHERE id = $1 AND state = 'starting'`, [id]);
  if (result.rowCount > 0) sandboxesWritten([id]);
  return result.rowCount > 0;
}

export async function findSandbox(
  q: Queryable,
  id: string,
  ownerId?: string,
): Promise<SandboxRecord | null> {
  const result =
    ownerId === undefined
      ? await q.query<SandboxRow>("SELECT * FROM sandboxes WHERE id = $1", [id])
      : await q.query<SandboxRow>("SELECT * FROM sandboxes WHERE id = $1 AND owner_id = $2", [
          id,
          ownerId,
        ]);
  return firstRecord(result.rows);
}

export interface SandboxMatch {
  id: string;
  ownerId?: string;
  /** Compare-and-set: the update applies only while the row is in one of these states. */
  states?: readonly SandboxState[];
  /** Applies only if the state has not changed since this instant (reconciliation). */
  unchangedSince?: Date;
}

export interface SandboxChange {
  state?: SandboxState;
  /** Seconds from now until an in-flight operation counts as stuck; null clears it. */
  opDeadlineSeconds?: number | null;
  /** end_at = now() + seconds. */
  endInSeconds?: number;
  /** end_at = greatest(end_at, now() + seconds). */
  endNoEarlierThanSeconds?: number;
  envdVersion?: string;
  hostId?: string | null;
  error?: string | null;
  /** Set with `error`: its code (null when the error is cleared). */
  errorReason?: SandboxErrorReason | null;
  /** A whole new egress policy (set together). */
  egress?: { allowInternet: boolean; network: EgressRules };
  /** Set with state stopping: how the sandbox comes to end. */
  stopReason?: SandboxStopReason;
}

/** A guarded single-row update; null when no row matched (gone, another owner, or state moved). */
export async function updateSandbox(
  q: Queryable,
  match: SandboxMatch,
  change: SandboxChange,
): Promise<SandboxRecord | null> {
  if (change.state !== undefined) {
    const to = change.state;
    const wrong = match.states?.find((from) => !canTransition(from, to));
    // A programming error, not bad input: the transition table is the contract.
    if (wrong) throw new Error(`sandbox state ${wrong} → ${to} is not an allowed transition`);
  }
  const p = new Params();
  const sets: string[] = [];
  if (change.state !== undefined) {
    sets.push(`state = ${p.add(change.state)}`, "state_changed_at = now()");
    if (change.state === "stopped") sets.push("stopped_at = now()");
  }
  if (change.opDeadlineSeconds === null) sets.push("op_deadline = NULL");
  else if (change.opDeadlineSeconds !== undefined) {
    sets.push(`op_deadline = now() + ${seconds(p.add(change.opDeadlineSeconds))}`);
  }
  if (change.endInSeconds !== undefined) {
    sets.push(`end_at = now() + ${seconds(p.add(change.endInSeconds))}`);
  }
  if (change.endNoEarlierThanSeconds !== undefined) {
    sets.push(
      `end_at = greatest(end_at, now() + ${seconds(p.add(change.endNoEarlierThanSeconds))})`,
    );
  }
  if (change.envdVersion !== undefined) sets.push(`envd_version = ${p.add(change.envdVersion)}`);
  if (change.hostId !== undefined) sets.push(`host_id = ${p.add(change.hostId)}`);
  if (change.error !== undefined) sets.push(`error = ${p.add(change.error)}`);
  if (change.errorReason !== undefined) sets.push(`error_reason = ${p.add(change.errorReason)}`);
  if (change.egress !== undefined) {
    sets.push(
      `allow_internet = ${p.add(change.egress.allowInternet)}`,
      `network = ${p.add(JSON.stringify(change.egress.network))}::jsonb`,
    );
  }
  if (change.stopReason !== undefined) sets.push(`stop_reason = ${p.add(change.stopReason)}`);
  if (sets.length === 0) throw new Error("updateSandbox needs at least one change");

  const where = [`id = ${p.add(match.id)}`];
  if (match.ownerId !== undefined) where.push(`owner_id = ${p.add(match.ownerId)}`);
  if (match.states !== undefined) where.push(`state = ANY(${p.add(match.states)}::text[])`);
  if (match.unchangedSince !== undefined) {
    where.push(`state_changed_at < ${p.add(match.unchangedSince.toISOString())}::timestamptz`);
  }
  const result = await q.query<SandboxRow>(
    `UPDATE sandboxes SET ${sets.join(", ")} WHERE ${where.join(" AND ")} RETURNING *`,
    p.values,
  );
  sandboxesWritten(result.rows.map((r) => r.id));
  return firstRecord(result.rows);
}

export interface ListPosition {
  startedAt: Date;
  id: string;
}

export interface SandboxFilter {
  /** Undefined: every owner's (an admin's view). */
  ownerId?: string;
  states?: readonly SandboxState[];
  metadata?: Record<string, string>;
  template?: string;
  /** Case-insensitive substring of the id, name, template or a metadata key, value or key=value. */
  search?: string;
  startedAfter?: Date;
  /**
   * Leave out sandboxes that failed before they ever ran (state error, no envd ever answered)
   * once they have been failed this many seconds: a failed create is kept for the audit trail,
   * not shown forever.
   */
  hideFailedCreatesAfterSeconds?: number;
  order: "asc" | "desc";
  limit: number;
  after?: ListPosition;
}

/** Returns up to limit + 1 rows so the caller knows whether another page exists. */
export async function listSandboxes(q: Queryable, f: SandboxFilter): Promise<SandboxRecord[]> {
  const p = new Params();
  const where = ["TRUE"];
  if (f.ownerId !== undefined) where.push(`owner_id = ${p.add(f.ownerId)}`);
  if (f.states !== undefined) where.push(`state = ANY(${p.add(f.states)}::text[])`);
  if (f.metadata !== undefined && Object.keys(f.metadata).length > 0) {
    where.push(`metadata @> ${p.add(JSON.stringify(f.metadata))}::jsonb`);
  }
  if (f.template !== undefined) where.push(`template = ${p.add(f.template)}`);
  if (f.search !== undefined && f.search !== "") {
    const like = p.add(`%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(
      `(id ILIKE ${like} OR name ILIKE ${like} OR template ILIKE ${like} OR EXISTS (SELECT 1 FROM jsonb_each_text(metadata) m
         WHERE m.key ILIKE ${like} OR m.value ILIKE ${like} OR m.key || '=' || m.value ILIKE ${like}))`,
    );
  }
  if (f.hideFailedCreatesAfterSeconds !== undefined) {
    where.push(
      `NOT (state = 'error' AND envd_version IS NULL AND state_changed_at < now() - ${seconds(p.add(f.hideFailedCreatesAfterSeconds))})`,
    );
  }
  if (f.startedAfter !== undefined) {
    // "At or after", as E2B's API defines startedAfter.
    where.push(`started_at >= ${p.add(f.startedAfter.toISOString())}::timestamptz`);
  }
  const direction = f.order === "asc" ? "ASC" : "DESC";
  if (f.after !== undefined) {
    const op = f.order === "asc" ? ">" : "<";
    where.push(
      `(started_at, id) ${op} (${p.add(f.after.startedAt.toISOString())}::timestamptz, ${p.add(f.after.id)})`,
    );
  }
  const result = await q.query<SandboxRow>(
    `SELECT * FROM sandboxes WHERE ${where.join(" AND ")}
     ORDER BY started_at ${direction}, id ${direction} LIMIT ${p.add(f.limit + 1)}`,
    p.values,
  );
  return result.rows.map(toSandboxRecord);
}

/** Creates by this key within the window, and when the oldest of them leaves it. */
export async function recentCreates(
  q: Queryable,
  keyId: string,
  windowSeconds: number,
): Promise<{ count: number; secondsUntilSlot: number }> {
  const result = await q.query<{ count: number; until: number | null }>(
    `SELECT count(*)::int AS count,
       ceil(extract(epoch FROM (min(created_at) + ${seconds("$2")} - now())))::int AS until
     FROM sandboxes WHERE api_key_id = $1 AND created_at > now() - ${seconds("$2")}`,
    [keyId, windowSeconds],
  );
  const row = result.rows[0]!;
  return { count: row.count, secondsUntilSlot: Math.max(1, row.until ?? 1) };
}

/**
 * Moves every running sandbox past its end time into pausing or stopping and returns them.
 * SKIP LOCKED lets several control planes claim disjoint batches at once; the state change is
 * the claim, so a crash after it leaves a row in flight that the stuck-row pass picks up.
 */
export async function claimExpired(
  q: Queryable,
  limit: number,
  deadlines: { pause: number; stop: number },
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    `UPDATE sandboxes s
     SET state = CASE WHEN s.auto_pause THEN 'pausing' ELSE 'stopping' END,
         stop_reason = CASE WHEN s.auto_pause THEN s.stop_reason ELSE 'expired' END,
         state_changed_at = now(),
         op_deadline = now() + CASE WHEN s.auto_pause THEN ${seconds("$2")} ELSE ${seconds("$3")} END
     WHERE s.state = 'running' AND s.id IN (
       SELECT id FROM sandboxes WHERE state = 'running' AND end_at <= now()
       ORDER BY end_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING s.*`,
    [limit, deadlines.pause, deadlines.stop],
  );
  sandboxesWritten(result.rows.map((r) => r.id));
  return result.rows.map(toSandboxRecord);
}

/** Claims in-flight rows whose operation overran its deadline, extending the deadline as a lease. */
export async function claimStuck(
  q: Queryable,
  limit: number,
  inFlight: readonly SandboxState[],
  leaseSeconds: number,
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    `UPDATE sandboxes s SET op_deadline = now() + ${seconds("$3")}
     WHERE s.id IN (
       SELECT id FROM sandboxes WHERE state = ANY($2::text[]) AND op_deadline < now()
       ORDER BY op_deadline LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING s.*`,
    [limit, inFlight, leaseSeconds],
  );
  sandboxesWritten(result.rows.map((r) => r.id));
  return result.rows.map(toSandboxRecord);
}

/** Every running sandbox, for matching signed /files URLs (sandbox ids are not in them). */
export async function runningSandboxes(q: Queryable): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>("SELECT * FROM sandboxes WHERE state = 'running'");
  return result.rows.map(toSandboxRecord);
}

/** Of these ids, those whose sandbox has ended (stopped) or no longer exists. */
export async function endedAmong(q: Queryable, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const result = await q.query<{ id: string }>(
    "SELECT id FROM sandboxes WHERE id = ANY($1::text[]) AND state <> 'stopped'",
    [ids],
  );
  const live = new Set(result.rows.map((r) => r.id));
  return ids.filter((id) => !live.has(id));
}

/** The sandbox `id` if it is in `state` now. */
export async function findSandboxInState(
  q: Queryable,
  id: string,
  state: SandboxState,
): Promise<SandboxRecord | undefined> {
  const result = await q.query<SandboxRow>("SELECT * FROM sandboxes WHERE id = $1 AND state = $2", [
    id,
    state,
  ]);
  return firstRecord(result.rows) ?? undefined;
}

/** The owner's running and paused sandboxes whose egress policy has header rules. */
export async function liveSandboxesWithRules(
  q: Queryable,
  ownerId: string,
): Promise<SandboxRecord[]> {
  const result = await q.query<SandboxRow>(
    "SELECT * FROM sandboxes WHERE owner_id = $1 AND state IN ('running', 'paused') AND network -> 'rules' IS NOT NULL",
    [ownerId],
  );
  return result.rows.map(toSandboxRecord);
}
