// Sums over the sandboxes table: what a key's or a host's sandboxes hold, and counts by state.
import type { Queryable } from "../db/database.js";
import type { SandboxState } from "../service/sandbox-types.js";

export interface KeyUsage {
  vcpus: number;
  memoryMb: number;
  storageMb: number;
}

/**
 * What the sandboxes of one key (or on one host) hold: compute while in a compute state,
 * storage while in a storage state. The one sum behind pools and host capacity.
 */
async function heldBy(
  q: Queryable,
  column: "api_key_id" | "host_id",
  value: string,
  computeStates: readonly SandboxState[],
  storageStates: readonly SandboxState[],
  exceptSandboxId?: string,
): Promise<KeyUsage> {
  const result = await q.query<{ vcpus: number; memory_mb: number; storage_mb: number }>(
    `SELECT
       coalesce(sum(vcpus) FILTER (WHERE state = ANY($2::text[])), 0)::int AS vcpus,
       coalesce(sum(memory_mb) FILTER (WHERE state = ANY($2::text[])), 0)::int AS memory_mb,
       coalesce(sum(disk_mb) FILTER (WHERE state = ANY($3::text[])), 0)::int AS storage_mb
     FROM sandboxes WHERE ${column} = $1 AND state = ANY($3::text[])
       AND ($4::text IS NULL OR id <> $4::text)`,
    [value, computeStates, storageStates, exceptSandboxId ?? null],
  );
  const row = result.rows[0]!;
  return { vcpus: row.vcpus, memoryMb: row.memory_mb, storageMb: row.storage_mb };
}

export function usageOfKey(
  q: Queryable,
  keyId: string,
  computeStates: readonly SandboxState[],
  storageStates: readonly SandboxState[],
): Promise<KeyUsage> {
  return heldBy(q, "api_key_id", keyId, computeStates, storageStates);
}

/**
 * Sum of what the live sandboxes placed on a host hold, for the scheduler's capacity check;
 * `exceptSandboxId`, the sandbox being placed, is left out (a resuming one still names the
 * host it left, and must not count against its own return there).
 */
export function placedOnHost(
  q: Queryable,
  hostId: string,
  computeStates: readonly SandboxState[],
  storageStates: readonly SandboxState[],
  exceptSandboxId?: string,
): Promise<KeyUsage> {
  return heldBy(q, "host_id", hostId, computeStates, storageStates, exceptSandboxId);
}

/** How many sandboxes are in each state (every owner), for the control plane's metrics. */
export async function countByState(q: Queryable): Promise<Record<string, number>> {
  const result = await q.query<{ state: string; n: number }>(
    "SELECT state, count(*)::int AS n FROM sandboxes GROUP BY state",
  );
  return Object.fromEntries(result.rows.map((r) => [r.state, r.n]));
}
