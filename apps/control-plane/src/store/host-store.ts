import type { HostKind, HostState } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";

export type HostStatus = HostState;

export interface HostCapacity {
  vcpus: number;
  memoryMb: number;
  diskMb: number;
}

export interface HostTemplate {
  name: string;
  version: string;
  envdVersion: string;
  sizeBytes: number;
  builtAt: string | null;
}

export interface HostRecord {
  id: string;
  url: string;
  status: HostStatus;
  kind: HostKind;
  agentHostId: string | null;
  hostname: string | null;
  version: string | null;
  instanceId: string | null;
  runtimes: string[];
  capacityTotal: HostCapacity | null;
  capacityUsed: HostCapacity | null;
  sandboxesByState: Record<string, number>;
  templates: HostTemplate[];
  consecutiveFailures: number;
  lastError: string | null;
  lastSeenAt: Date | null;
  /** Takes no new placements (an admin drained it). */
  drained: boolean;
}

interface HostRow {
  id: string;
  url: string;
  status: HostStatus;
  kind: HostKind;
  agent_token_sealed: string | null;
  state_version: string | null;
  agent_host_id: string | null;
  hostname: string | null;
  version: string | null;
  instance_id: string | null;
  runtimes: string[];
  capacity_total: HostCapacity | null;
  capacity_used: HostCapacity | null;
  sandboxes_by_state: Record<string, number>;
  templates: HostTemplate[];
  consecutive_failures: number;
  last_error: string | null;
  last_seen_at: Date | null;
  drained: boolean;
}

function toRecord(row: HostRow): HostRecord {
  return {
    id: row.id,
    url: row.url,
    status: row.status,
    kind: row.kind,
    agentHostId: row.agent_host_id,
    hostname: row.hostname,
    version: row.version,
    instanceId: row.instance_id,
    runtimes: row.runtimes,
    capacityTotal: row.capacity_total,
    capacityUsed: row.capacity_used,
    sandboxesByState: row.sandboxes_by_state,
    templates: row.templates,
    consecutiveFailures: row.consecutive_failures,
    lastError: row.last_error,
    lastSeenAt: row.last_seen_at,
    drained: row.drained,
  };
}

/** Registers a host by URL; an existing row (same id) keeps what the monitor learnt about it. */
export async function upsertHost(q: Queryable, id: string, url: string): Promise<void> {
  const upsert = () =>
    q.query(
      `INSERT INTO hosts (id, url) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, updated_at = now()`,
      [id, url],
    );
  try {
    await upsert();
  } catch (err) {
    // Two control planes registering the same host at once: ON CONFLICT (id) does not cover
    // the concurrent insert's clash on the url index, which raises instead. The row exists
    // now, so a second attempt takes the update path.
    if ((err as { code?: string }).code !== "23505") throw err;
    await upsert();
  }
}

export async function findHost(q: Queryable, id: string): Promise<HostRecord | null> {
  const result = await q.query<HostRow>("SELECT * FROM hosts WHERE id = $1", [id]);
  const row = result.rows[0];
  return row ? toRecord(row) : null;
}

/** The id of the host registered at `url`, if any (an agent address names one host). */
export async function hostIdAtUrl(q: Queryable, url: string): Promise<string | undefined> {
  const result = await q.query<{ id: string }>("SELECT id FROM hosts WHERE url = $1", [url]);
  return result.rows[0]?.id;
}

export async function listHosts(q: Queryable): Promise<HostRecord[]> {
  const result = await q.query<HostRow>("SELECT * FROM hosts ORDER BY id");
  return result.rows.map(toRecord);
}

export interface HostObservation {
  agentHostId: string;
  hostname: string;
  version: string;
  instanceId: string;
  runtimes: string[];
  capacityTotal: HostCapacity;
  capacityUsed: HostCapacity;
  sandboxesByState: Record<string, number>;
  templates: HostTemplate[];
}

/** Records a successful contact. Returns the instance id seen before, to detect agent restarts. */
export async function recordHostSeen(
  q: Queryable,
  id: string,
  o: HostObservation,
): Promise<{ previousInstanceId: string | null; previousStatus: HostStatus }> {
  const result = await q.query<{
    previous_instance_id: string | null;
    previous_status: HostStatus;
  }>(
    `WITH previous AS (
       SELECT instance_id AS was_instance, status AS was_status FROM hosts WHERE id = $1 FOR UPDATE)
     UPDATE hosts SET status = 'online', agent_host_id = $2, hostname = $3, version = $4,
       instance_id = $5, runtimes = $6::jsonb, capacity_total = $7::jsonb, capacity_used = $8::jsonb,
       sandboxes_by_state = $9::jsonb, templates = $10::jsonb, consecutive_failures = 0,
       last_error = NULL, last_seen_at = now(), updated_at = now()
     FROM previous WHERE hosts.id = $1
     RETURNING previous.was_instance AS previous_instance_id, previous.was_status AS previous_status`,
    [
      id,
      o.agentHostId,
      o.hostname,
      o.version,
      o.instanceId,
      JSON.stringify(o.runtimes),
      JSON.stringify(o.capacityTotal),
      JSON.stringify(o.capacityUsed),
      JSON.stringify(o.sandboxesByState),
      JSON.stringify(o.templates),
    ],
  );
  const row = result.rows[0];
  return {
    previousInstanceId: row?.previous_instance_id ?? null,
    previousStatus: row?.previous_status ?? "unknown",
  };
}

/** The host answered, but with an error: worth showing, not a sign that it is gone. */
/** What a host holds after a build there, read from it at once (no wait for its heartbeat). */
export async function recordHostTemplates(
  q: Queryable,
  id: string,
  templates: HostObservation["templates"],
): Promise<void> {
  await q.query("UPDATE hosts SET templates = $2::jsonb, updated_at = now() WHERE id = $1", [
    id,
    JSON.stringify(templates),
  ]);
}

export async function recordHostError(q: Queryable, id: string, error: string): Promise<void> {
  await q.query("UPDATE hosts SET last_error = $2, updated_at = now() WHERE id = $1", [
    id,
    error.slice(0, 1000),
  ]);
}

/** Counts a failed contact; the host is unreachable once failures reach the threshold. */
export async function recordHostFailure(
  q: Queryable,
  id: string,
  error: string,
  offlineAfter: number,
): Promise<{ status: HostStatus; wentOffline: boolean }> {
  const result = await q.query<{ status: HostStatus; was: HostStatus }>(
    `WITH previous AS (SELECT status AS was FROM hosts WHERE id = $1 FOR UPDATE)
     UPDATE hosts SET consecutive_failures = hosts.consecutive_failures + 1, last_error = $2,
       status = CASE WHEN hosts.consecutive_failures + 1 >= $3 THEN 'unreachable' ELSE hosts.status END,
       updated_at = now()
     FROM previous WHERE hosts.id = $1
     RETURNING hosts.status AS status, previous.was AS was`,
    [id, error.slice(0, 1000), offlineAfter],
  );
  const row = result.rows[0];
  if (!row) return { status: "unknown", wentOffline: false };
  return {
    status: row.status,
    wentOffline: row.status === "unreachable" && row.was !== "unreachable",
  };
}

// ---- registered hosts (they join with a token and heartbeat; see docs/hosts.md)

/** A registered host and the sealed bearer token its agent accepts. */
export interface RegisteredHostRecord {
  id: string;
  url: string;
  agentTokenSealed: string;
}

/** A new registered host; the url must not belong to another host. */
export async function insertRegisteredHost(
  q: Queryable,
  id: string,
  url: string,
  agentTokenSealed: string,
): Promise<void> {
  await q.query(
    `INSERT INTO hosts (id, url, kind, agent_token_sealed) VALUES ($1, $2, 'registered', $3)`,
    [id, url, agentTokenSealed],
  );
}

export async function listRegisteredHosts(q: Queryable): Promise<RegisteredHostRecord[]> {
  const result = await q.query<{ id: string; url: string; agent_token_sealed: string }>(
    "SELECT id, url, agent_token_sealed FROM hosts WHERE kind = 'registered' ORDER BY id",
  );
  return result.rows.map((r) => ({
    id: r.id,
    url: r.url,
    agentTokenSealed: r.agent_token_sealed,
  }));
}

/**
 * A heartbeat from a registered host: everything it reported, plus its state counter. Returns
 * what was there before, to tell a return, a restart or a sandbox changing state on its own.
 */
export async function recordHeartbeat(
  q: Queryable,
  id: string,
  o: HostObservation & { stateVersion: string },
): Promise<{
  previousInstanceId: string | null;
  previousStatus: HostStatus;
  previousStateVersion: string | null;
}> {
  const seen = await recordHostSeen(q, id, o);
  const result = await q.query<{ was: string | null }>(
    `WITH previous AS (SELECT state_version AS was FROM hosts WHERE id = $1 FOR UPDATE)
     UPDATE hosts SET state_version = $2 FROM previous WHERE hosts.id = $1
     RETURNING previous.was AS was`,
    [id, `${o.instanceId}/${o.stateVersion}`],
  );
  return { ...seen, previousStateVersion: result.rows[0]?.was ?? null };
}

/**
 * Registered hosts silent for longer than the window become unreachable; returns their ids.
 * One statement, so of several control planes on one database exactly one sees each change.
 */
export async function markSilentHostsUnreachable(
  q: Queryable,
  silenceSeconds: number,
): Promise<string[]> {
  const result = await q.query<{ id: string }>(
    `UPDATE hosts SET status = 'unreachable',
       last_error = 'no heartbeat for ' || $1::text || ' s', updated_at = now()
     WHERE kind = 'registered' AND status <> 'unreachable'
       AND coalesce(last_seen_at, created_at) < now() - make_interval(secs => $1::int)
     RETURNING id`,
    [silenceSeconds],
  );
  return result.rows.map((r) => r.id);
}

// ---- drain and delete (docs/hosts.md)

/** Marks a host drained or not; false when there is no such host. Idempotent. */
export async function setHostDrained(q: Queryable, id: string, drained: boolean): Promise<boolean> {
  const result = await q.query(
    "UPDATE hosts SET drained = $2, updated_at = now() WHERE id = $1 RETURNING id",
    [id, drained],
  );
  return result.rows.length === 1;
}

/**
 * Removes a host (its refresh tokens go with it) and remembers that it was deleted, so a
 * heartbeat or refresh still naming it is told why it is refused. Its sandboxes' rows keep
 * their host_id as history.
 */
export async function deleteHostRow(
  q: Queryable,
  id: string,
  deletedBy: string | null,
): Promise<boolean> {
  const result = await q.query<{ url: string }>("DELETE FROM hosts WHERE id = $1 RETURNING url", [
    id,
  ]);
  const row = result.rows[0];
  if (!row) return false;
  await q.query(
    `INSERT INTO deleted_hosts (id, url, deleted_by) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET deleted_at = now(), deleted_by = excluded.deleted_by`,
    [id, row.url, deletedBy],
  );
  return true;
}

export async function hostWasDeleted(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query("SELECT 1 FROM deleted_hosts WHERE id = $1", [id]);
  return result.rows.length === 1;
}
