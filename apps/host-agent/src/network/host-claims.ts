import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type HeldLock,
  isLockHeld,
  type LockHolder,
  readLockHolder,
  tryLockFile,
  withFileLock,
} from "@wrenn/process-lock";
import { invalidArgument } from "./errors.js";
import { cidrContains, parseCidr } from "./ipv4.js";

/** Where every agent on this machine registers what it owns; /run empties at boot. */
export const CLAIMS_DIR = "/run/wrenn/agents";

/** The host-wide names and addresses one agent's network owns. */
export interface NetworkClaim {
  readonly pool: string;
  /** Start of its netns and interface names; its rules match `<prefix>*`. */
  readonly prefix: string;
  /** Its nftables tables (inet family). */
  readonly tables: readonly string[];
}

/** A claim as registered: the network plus who holds it, for the refusal message. */
export interface RegisteredClaim extends NetworkClaim {
  readonly dataDir: string;
  readonly listen: string;
}

function isClaim(h: LockHolder | null): h is LockHolder & RegisteredClaim {
  return (
    h !== null &&
    typeof h.pool === "string" &&
    typeof h.prefix === "string" &&
    Array.isArray(h.tables) &&
    h.tables.every((t) => typeof t === "string")
  );
}

/** Why two networks cannot live side by side, or null when they can. */
export function claimConflict(a: NetworkClaim, b: NetworkClaim): string | null {
  const pa = parseCidr(a.pool);
  const pb = parseCidr(b.pool);
  if (cidrContains(pa, pb) || cidrContains(pb, pa)) {
    return `network pool ${a.pool} overlaps ${b.pool} (set WRENN_NETWORK_POOL)`;
  }
  // Rules and leak clean-up match `<prefix>*`: one prefix inside the other would let either
  // agent take the other's interfaces for its own.
  if (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix)) {
    return `name prefix ${JSON.stringify(a.prefix)} overlaps ${JSON.stringify(b.prefix)} (set WRENN_NETWORK_PREFIX)`;
  }
  const shared = a.tables.find((t) => b.tables.includes(t));
  if (shared !== undefined) {
    return `nftables table ${shared} is used by both (set WRENN_NETWORK_TABLE)`;
  }
  return null;
}

function holderText(h: LockHolder | null): string {
  if (h === null) return "another host agent (starting up)";
  const parts = [`process ${h.pid ?? "?"}`];
  if (typeof h.listen === "string") parts.push(`listening on ${h.listen}`);
  if (typeof h.dataDir === "string") parts.push(`data dir ${h.dataDir}`);
  return `the host agent running as ${parts.join(", ")}`;
}

/**
 * Registers this agent's network host-wide, or refuses when a live agent's overlaps it: two
 * agents with one pool, prefix or table would route, adopt or tear down each other's
 * sandboxes. One file per agent (named by its table) holds its claim under a flock for as long
 * as it lives; a dead agent's file is not held and is ignored. Checking and registering happen
 * under one registry-wide lock, so two agents starting together cannot both pass.
 */
export async function claimNetwork(
  claim: RegisteredClaim,
  dir: string = CLAIMS_DIR,
): Promise<HeldLock> {
  const mine = join(dir, `${claim.tables[0]}.claim`);
  return withFileLock(join(dir, ".registry.lock"), 30, async () => {
    const names = (await readdir(dir)).filter((n) => n.endsWith(".claim"));
    for (const name of names) {
      const path = join(dir, name);
      if (path === mine) continue;
      const other = readLockHolder(path);
      if (!(await isLockHeld(path))) continue;
      const why = isClaim(other) ? claimConflict(claim, other) : null;
      if (why) throw invalidArgument(`refusing to start: ${why} with ${holderText(other)}`);
    }
    const lock = await tryLockFile(mine, { ...claim });
    if (lock === null) {
      throw invalidArgument(
        `refusing to start: nftables table ${claim.tables[0]} is used by ` +
          `${holderText(readLockHolder(mine))} (set WRENN_NETWORK_TABLE)`,
      );
    }
    return lock;
  });
}
