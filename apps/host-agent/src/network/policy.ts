import { checkEgressList, egressDomains, egressOpen } from "@wrenn/contract";
import { invalidArgument } from "./errors.js";
import { formatCidr, normalizeCidrs, parseCidr } from "./ipv4.js";

/**
 * What a sandbox may reach, with E2B's semantics (the contract's EgressPolicy): allowOut wins
 * over denyOut, and without allowInternet only allowOut is reachable. Nothing on the host, in
 * other sandboxes or in the always-denied ranges is reachable whatever the policy says; the
 * policy only governs traffic leaving the host.
 */
export interface NetworkPolicy {
  /** Everything not denied goes out through the host's NAT; false (the default): only allowOut. */
  readonly allowInternet: boolean;
  /**
   * Reachable whatever denyOut and allowInternet say: IPv4 CIDRs, and host names or `*.`
   * wildcards (TCP 80/443 by SNI or Host, through the egress proxy).
   */
  readonly allowOut?: readonly string[];
  /** Not reachable with allowInternet, unless allowOut lists it. */
  readonly denyOut?: readonly string[];
}

/**
 * What no sandbox reaches, whatever its policy, unless an admin opens a range
 * (WRENN_EGRESS_ALLOW_CIDRS): the networks around the host, never the internet. The host's own
 * addresses and other sandboxes are closed by other rules that nothing opens (see README.md).
 */
export const ALWAYS_DENIED_OUT: readonly string[] = [
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // RFC 1918
  "100.64.0.0/10", // carrier-grade NAT (RFC 6598): often a provider's internal network
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local, with cloud metadata (169.254.169.254)
  "172.16.0.0/12", // RFC 1918
  "192.168.0.0/16", // RFC 1918
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, and the limited broadcast 255.255.255.255
];

/** A validated policy in canonical form, as persisted and rendered into rules. */
export interface ResolvedPolicy {
  readonly allowInternet: boolean;
  readonly allowOut: readonly string[];
  readonly denyOut: readonly string[];
}

export const DENY_ALL: ResolvedPolicy = { allowInternet: false, allowOut: [], denyOut: [] };

/**
 * The contract's rule for egress lists (the control plane checks the same), then canonical:
 * the CIDRs merged and sorted, then the host names (allowOut only) sorted and unique.
 */
function resolveList(field: string, value: unknown, domains: boolean): string[] {
  let entries: string[];
  try {
    entries = checkEgressList(`policy.${field}`, value, domains);
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
  const names = new Set(egressDomains(entries));
  const cidrs = entries.filter((e) => !names.has(e));
  return [...normalizeCidrs(cidrs.map(parseCidr)).map(formatCidr), ...[...names].sort()];
}

export function resolvePolicy(policy: unknown): ResolvedPolicy {
  if (policy === undefined) return DENY_ALL;
  if (typeof policy !== "object" || policy === null || Array.isArray(policy)) {
    throw invalidArgument("policy must be an object");
  }
  const p = policy as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (key !== "allowInternet" && key !== "allowOut" && key !== "denyOut") {
      throw invalidArgument(`unknown policy field ${JSON.stringify(key)}`);
    }
  }
  if (typeof p.allowInternet !== "boolean") {
    throw invalidArgument("policy.allowInternet must be a boolean");
  }
  const allowOut = resolveList("allowOut", p.allowOut, true);
  const denyOut = resolveList("denyOut", p.denyOut, false);
  // denyOut without internet access has nothing to act on (all but allowOut is denied), but
  // is kept: a later policy change (or a reader of the state) sees what was asked for.
  return { allowInternet: p.allowInternet, allowOut, denyOut };
}

/** Whether the sandbox gets an egress chain (and the guard lets it out) at all. */
export const hasEgress = (p: ResolvedPolicy): boolean => egressOpen(p);

/** The policy's allowOut addresses and CIDRs, without its host names. */
export function allowedCidrs(p: ResolvedPolicy): string[] {
  const names = new Set(egressDomains(p.allowOut));
  return p.allowOut.filter((e) => !names.has(e));
}

/** Whether the policy has host-name rules: its TCP 80/443 and DNS go through the egress proxy. */
export const hasDomainRules = (p: ResolvedPolicy): boolean => egressDomains(p.allowOut).length > 0;

/**
 * Whether `next` lets out at least everything `prev` does (by the lists as written; when in
 * doubt, false). Decides only the order in which a policy change is written (see applyPolicy).
 */
export function policyWidens(prev: ResolvedPolicy, next: ResolvedPolicy): boolean {
  const within = (a: readonly string[], b: readonly string[]) => a.every((x) => b.includes(x));
  if (!next.allowInternet) return !prev.allowInternet && within(prev.allowOut, next.allowOut);
  return (
    within(next.denyOut, prev.allowInternet ? prev.denyOut : []) &&
    within(prev.allowOut, next.allowOut)
  );
}
