import { invalidArgument } from "./errors.js";

/**
 * A short kind, "-" and 8 hex digits: public sandbox ids ("sb-1a2b3c4d") and the runtime's
 * own fixed-width ids ("wr-1a2b3c4d") both fit. The 8 hex digits are the key of everything
 * we name after a sandbox, which keeps interface names within IFNAMSIZ.
 */
const SANDBOX_ID = /^[a-z]{2,3}-[0-9a-f]{8}$/;
const KEY = /^[0-9a-f]{8}$/;
/** Linux IFNAMSIZ is 16 including the NUL. */
const IFNAME_MAX = 15;
export const NETNS_DIR = "/var/run/netns";

export function isSandboxId(id: unknown): id is string {
  return typeof id === "string" && SANDBOX_ID.test(id);
}

export function assertSandboxId(id: unknown): asserts id is string {
  if (!isSandboxId(id)) {
    throw invalidArgument(
      `invalid sandbox id ${JSON.stringify(id)} (want 2-3 lowercase letters, "-" and ` +
        `8 hex digits, e.g. "sb-1a2b3c4d")`,
    );
  }
}

/** The 8 hex digits; two sandboxes with the same key cannot coexist in one manager. */
export function keyOf(sandboxId: string): string {
  return sandboxId.slice(-8);
}

/**
 * Every name we create starts with the prefix, so a leak can be recognised (and only ours
 * removed) by name alone after a crash. The prefix must leave room for the key in an
 * interface name.
 */
export function assertNamePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9-]*$/.test(prefix) || prefix.length > IFNAME_MAX - 8) {
    throw invalidArgument(
      `invalid name prefix ${JSON.stringify(prefix)}: lowercase letters, digits and "-", ` +
        `starting with a letter, at most ${IFNAME_MAX - 8} characters`,
    );
  }
  // Workspace tunnels are named `wg<prefix><port>`: a prefix starting "wg" could take another
  // agent's tunnels for its own sandboxes' interfaces.
  if (prefix.startsWith("wg")) {
    throw invalidArgument(
      `invalid name prefix ${JSON.stringify(prefix)}: "wg" starts tunnel names`,
    );
  }
}

export interface SandboxNames {
  readonly netns: string;
  readonly netnsPath: string;
  readonly hostIf: string;
  /** Our per-sandbox nftables chain. */
  readonly chain: string;
  /** Its nat chain, redirecting to the egress proxy (only with domain rules). */
  readonly steerChain: string;
}

export function namesFor(prefix: string, sandboxId: string): SandboxNames {
  const key = keyOf(sandboxId);
  const netns = `${prefix}${sandboxId}`;
  return {
    netns,
    netnsPath: `${NETNS_DIR}/${netns}`,
    hostIf: `${prefix}${key}`,
    chain: `egress-${key}`,
    steerChain: `steer-${key}`,
  };
}

/** Inverse of namesFor for names found on the host; null for anything not ours. */
export function sandboxIdFromNetns(prefix: string, netns: string): string | null {
  if (!netns.startsWith(prefix)) return null;
  const id = netns.slice(prefix.length);
  return isSandboxId(id) ? id : null;
}

export function keyFromHostIf(prefix: string, ifname: string): string | null {
  if (!ifname.startsWith(prefix)) return null;
  const key = ifname.slice(prefix.length);
  return KEY.test(key) ? key : null;
}

export function keyFromChain(chain: string): string | null {
  const m = /^(?:egress|steer)-([0-9a-f]{8})$/.exec(chain);
  return m ? m[1]! : null;
}
