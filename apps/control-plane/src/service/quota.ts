import type { Queryable } from "../db/database.js";
import { type ApiKeyRecord, lockKey } from "../store/api-key-store.js";
import { recentCreates } from "../store/sandbox-store.js";
import { type KeyUsage, usageOfKey } from "../store/sandbox-usage-store.js";
import { templateStorageMb } from "../store/template-store.js";
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
 * What a key holds against its pools: its sandboxes' compute, and as storage their disks plus
 * its owner's template builds. Templates are the owner's (every key of the owner uses and may
 * delete them), so each of the owner's keys counts them.
 */
export async function usageOfPools(
  q: Queryable,
  key: Pick<ApiKeyRecord, "id" | "ownerId">,
): Promise<KeyUsage> {
  const used = await usageOfKey(q, key.id, COMPUTE_STATES, STORAGE_STATES);
  return { ...used, storageMb: used.storageMb + (await templateStorageMb(q, key.ownerId)) };
}

/** The one refusal of every pool check: which pool, what it holds, what was asked. */
function exhausted(key: ApiKeyRecord, name: string, inUse: number, asked: number, pool: number) {
  const next =
    name === "storage (MiB)"
      ? "destroy a sandbox or delete a template (wrenn template rm NAME)"
      : "stop or pause a sandbox";
  return new ServiceError(
    "pool_exhausted",
    `the ${name} pool of API key ${key.id} is exhausted: ${inUse} of ${pool} in use, ${asked} more asked; ${next}, or ask an admin for a larger pool`,
  );
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
  const used = await usageOfPools(tx, key);
  const checks: [string, number, number, number][] = [
    ["vcpus", used.vcpus, resources.vcpus, key.pools.vcpus],
    ["memory (MiB)", used.memoryMb, resources.memoryMb, key.pools.memoryMb],
  ];
  if (options.storage)
    checks.push(["storage (MiB)", used.storageMb, resources.diskMb, key.pools.storageMb]);
  for (const [name, inUse, asked, pool] of checks) {
    if (inUse + asked > pool) throw exhausted(key, name, inUse, asked, pool);
  }
}

/**
 * A template build's storage check. What a build takes is known only when it ends (an image's
 * unpacked size is not known before it is pulled), so a build is refused when the key's storage
 * is full already, or would be past its pool with `baseMb`, the part known before: the size of
 * the template it builds on (its files are in the new root too). A build that then ends over
 * the pool is kept; the next build or sandbox create is refused. Runs in the transaction
 * that starts the build.
 */
export async function enforceBuildStorageOfKey(
  tx: Queryable,
  keyId: string,
  baseMb: number,
): Promise<void> {
  // The key's row lock orders this check with the key's sandbox creates and other builds.
  const key = await lockKey(tx, keyId);
  if (!key || key.revokedAt) throw new ServiceError("invalid_api_key", "the API key was revoked");
  const inUse = (await usageOfPools(tx, key)).storageMb;
  const pool = key.pools.storageMb;
  if (inUse >= pool || inUse + baseMb > pool)
    throw exhausted(key, "storage (MiB)", inUse, baseMb, pool);
}
