import {
  checkEgressHeaderRules,
  checkEgressList,
  checkEgressProxy,
  type EgressPolicy,
  egressDomains,
  egressOpen,
} from "@wrenn/contract";
import { invalidArgument } from "./errors.js";
import { formatCidr, normalizeCidrs, parseCidr } from "./ipv4.js";

/**
 * What a sandbox may reach: the contract's EgressPolicy, the type the control plane and the
 * host-agent proto carry (E2B's semantics: allowOut wins over denyOut, and without
 * allowInternet only allowOut is reachable). Nothing on the host, in other sandboxes or in the
 * always-denied ranges is reachable whatever the policy says; the policy only governs traffic
 * leaving the host. resolvePolicy gives the validated, canonical form that is persisted and
 * rendered into rules.
 */
export type NetworkPolicy = EgressPolicy;

/** A policy as asked of NetworkManager: lists left out are empty (resolvePolicy fills them in). */
export type NetworkPolicyRequest = Pick<NetworkPolicy, "allowInternet"> &
  Partial<Pick<NetworkPolicy, "allowOut" | "denyOut" | "egressProxy" | "rules">>;

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

/** No egress at all: the policy of template and warm-up sandboxes, and the default. */
export const DENY_ALL: NetworkPolicy = { allowInternet: false, allowOut: [], denyOut: [] };

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

export function resolvePolicy(policy: unknown): NetworkPolicy {
  if (policy === undefined) return DENY_ALL;
  if (typeof policy !== "object" || policy === null || Array.isArray(policy)) {
    throw invalidArgument("policy must be an object");
  }
  const p = policy as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!["allowInternet", "allowOut", "denyOut", "egressProxy", "rules"].includes(key)) {
      throw invalidArgument(`unknown policy field ${JSON.stringify(key)}`);
    }
  }
  if (typeof p.allowInternet !== "boolean") {
    throw invalidArgument("policy.allowInternet must be a boolean");
  }
  const allowOut = resolveList("allowOut", p.allowOut, true);
  const denyOut = resolveList("denyOut", p.denyOut, false);
  let egressProxy: NetworkPolicy["egressProxy"] | null | undefined;
  let rules: NetworkPolicy["rules"];
  try {
    egressProxy = checkEgressProxy("policy.egressProxy", p.egressProxy);
    rules = checkEgressHeaderRules("policy.rules", p.rules);
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
  // denyOut without internet access has nothing to act on (all but allowOut is denied), but
  // is kept: a later policy change (or a reader of the state) sees what was asked for.
  return {
    allowInternet: p.allowInternet,
    allowOut,
    denyOut,
    ...(egressProxy ? { egressProxy } : {}),
    ...(rules ? { rules } : {}),
  };
}

/**
 * The policy without its header rules: what the agent's API returns. Rule values are secrets
 * filled in by the control plane; the agent holds them in memory only (see HeldSecrets).
 */
export function withoutRules(p: NetworkPolicy): NetworkPolicy {
  const { rules: _rules, ...rest } = p;
  return rest;
}

/**
 * What is written to disk: no header rules, and the egressProxy without its credentials (the
 * contract wants user name and password together, so both go). Both are held in memory only
 * (HeldSecrets) and come back when the control plane sends the policy again after a restart.
 */
export function persistedPolicy(p: NetworkPolicy): NetworkPolicy {
  const rest = withoutRules(p);
  return rest.egressProxy ? { ...rest, egressProxy: { address: rest.egressProxy.address } } : rest;
}

/**
 * Whether two policies are the same, as the rules written from them would be (both made by the
 * same parsing, so their keys come in the same order); an absent one is the same as none.
 */
export const samePolicy = (a: NetworkPolicy | undefined, b: NetworkPolicy | undefined): boolean =>
  a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);

/** Whether the policy carries anything persistedPolicy leaves out (memory-only secrets). */
export const holdsSecrets = (p: NetworkPolicy): boolean =>
  p.rules !== undefined || p.egressProxy?.username !== undefined;

/** Whether the sandbox gets an egress chain (and the guard lets it out) at all. */
export const hasEgress = (p: NetworkPolicy): boolean => egressOpen(p);

/** The policy's allowOut addresses and CIDRs, without its host names. */
export function allowedCidrs(p: NetworkPolicy): string[] {
  const names = new Set(egressDomains(p.allowOut));
  return p.allowOut.filter((e) => !names.has(e));
}

/** Whether the policy has host-name rules: its TCP 80/443 and DNS go through the egress proxy. */
export const hasDomainRules = (p: NetworkPolicy): boolean => egressDomains(p.allowOut).length > 0;

/** Whether the sandbox's allowed TCP is tunneled through a SOCKS5 proxy (egressProxy). */
export const hasTunnel = (p: NetworkPolicy): boolean => p.egressProxy !== undefined;

/** Whether the sandbox's traffic meets the egress proxy at all (a steer chain is installed). */
export const isSteered = (p: NetworkPolicy): boolean => hasDomainRules(p) || hasTunnel(p);

/**
 * Whether the sandbox needs a name server: with internet access, or with host names in
 * allowOut (its DNS is then answered by the agent's forwarder, whatever address it asks).
 */
export const needsResolver = (p: NetworkPolicy): boolean => p.allowInternet || hasDomainRules(p);

/**
 * Whether `next` lets out at least everything `prev` does (by the lists as written; when in
 * doubt, false): then a policy change has no open connection to cut (see applyPolicyChange).
 */
export function policyWidens(prev: NetworkPolicy, next: NetworkPolicy): boolean {
  const within = (a: readonly string[], b: readonly string[]) => a.every((x) => b.includes(x));
  // Another proxy (or none) is neither wider nor narrower: write the narrower side first.
  if (JSON.stringify(prev.egressProxy) !== JSON.stringify(next.egressProxy)) return false;
  if (!next.allowInternet) return !prev.allowInternet && within(prev.allowOut, next.allowOut);
  return (
    within(next.denyOut, prev.allowInternet ? prev.denyOut : []) &&
    within(prev.allowOut, next.allowOut)
  );
}
