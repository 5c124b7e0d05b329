import type { Queryable } from "../db/database.js";
import type { ApiKeyRecord } from "../store/api-key-store.js";
import { recentCreates } from "../store/sandbox-store.js";
import { usageOfKey } from "../store/sandbox-usage-store.js";
import { ServiceError } from "./errors.js";
import { COMPUTE_STATES, type Resources, STORAGE_STATES } from "./sandbox-types.js";

export const CREATE_RATE_WINDOW_SECONDS = 60;

/** Must run in the transaction that holds the key's row lock, or two creates could both pass. */
export async function enforceCreateRate(tx: Queryable, key: ApiKeyRecord): Promise<void> {
  const recent = await recentCreates(tx, key.id, CREATE_RATE_WINDOW_SECONDS);
  if (recent.count >= key.createRatePerMinute) {
    throw new ServiceError(
      "rate_limited",
      `API key ${key.id} may create ${key.createRatePerMinute} sandboxes per minute; try again in ${recent.secondsUntilSlot} s`,
      recent.secondsUntilSlot,
    );
  }
}

/**
 * Checks that adding `resources` keeps the key within its pools. A paused sandbox keeps its
 * disk but frees vcpus and memory, so resuming (`storage: false`) checks compute only.
 */
export async function enforcePools(
  tx: Queryable,
  key: ApiKeyRecord,
  resources: Resources,
  options: { storage: boolean },
): Promise<void> {
  const used = await usageOfKey(tx, key.id, COMPUTE_STATES, STORAGE_STATES);
  const checks: [string, number, number, number][] = [
    ["vcpus", used.vcpus, resources.vcpus, key.pools.vcpus],
    ["memory (MiB)", used.memoryMb, resources.memoryMb, key.pools.memoryMb],
  ];
  if (options.storage)
    checks.push(["storage (MiB)", used.storageMb, resources.diskMb, key.pools.storageMb]);
  for (const [name, inUse, asked, pool] of checks) {
    if (inUse + asked > pool) {
      throw new ServiceError(
        "pool_exhausted",
        `the ${name} pool of API key ${key.id} is exhausted: ${inUse} of ${pool} in use, ${asked} more asked; stop or pause a sandbox, or ask an admin for a larger pool`,
      );
    }
  }
}
