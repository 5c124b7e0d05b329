import {
  ContractError,
  type ErrorCode,
  errorMessage,
  invalidInput,
} from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";
import { checkEgressProxy, type EgressProxyConfig } from "./egress-proxy.js";
import { checkEgressHeaderRules, type EgressHeaderRules } from "./egress-rules.js";

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const PREFIX = /^(3[0-2]|[12]?\d)$/;

/** An IPv4 address as an unsigned 32-bit integer, or undefined when it is not one. */
export function ipv4Value(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function maskOf(prefixLen: number): number {
  // `>>> 0` keeps it unsigned; a shift by 32 is a no-op in JS, hence the special case.
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/**
 * A host name or a `*.` wildcard, what E2B's allowOut also accepts: labels of letters, digits
 * and inner hyphens (at most 63 each), the last starting with a letter (so "1.2.3" is a broken
 * address, not a name), an optional trailing dot. Underscores are in: real names carry them.
 */
const DOMAIN =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/**
 * A domain entry of allowOut in canonical form (lower case, no trailing dot; `*.` kept), or
 * undefined when the entry is not a well-formed name. `*.example.com` matches every name below
 * example.com (any depth), not example.com itself; allow both to have both.
 */
export function egressDomain(entry: string): string | undefined {
  const name = entry.trim();
  if (name.length > LIMITS.egressEntryLength || !DOMAIN.test(name)) return undefined;
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * A host name as a client sent it (TLS SNI, HTTP Host without its port) in the form domain
 * rules are matched against, or undefined when it is not a name at all (an address literal, a
 * wildcard, garbage): such a request matches no domain rule.
 */
export function egressHostName(raw: string): string | undefined {
  const name = raw.trim().toLowerCase().replace(/\.$/, "");
  if (name.length === 0 || name.length > 253 || name.startsWith("*")) return undefined;
  if (ipv4Value(name) !== undefined || !DOMAIN.test(name)) return undefined;
  return name;
}

/** Whether one canonical domain rule (see egressDomain) covers a canonical host name. */
export function egressDomainMatches(rule: string, host: string): boolean {
  if (rule.startsWith("*.")) return host.endsWith(rule.slice(1)) && host.length > rule.length - 1;
  return host === rule;
}

/** The domain rules of an allowOut list (canonical), leaving its addresses and CIDRs out. */
export function egressDomains(allowOut: readonly string[]): string[] {
  return allowOut.filter((e) => ipv4Value(e.split("/")[0] ?? "") === undefined);
}

/** Whether a policy's domain rules let a connection to this host name out (allow wins). */
export function egressAllowsHost(policy: { readonly allowOut: readonly string[] }, raw: string) {
  const host = egressHostName(raw);
  if (host === undefined) return false;
  return egressDomains(policy.allowOut).some((rule) => egressDomainMatches(rule, host));
}

/**
 * Why an egress entry is refused (with the code to refuse it with), or undefined when it is an
 * IPv4 address or CIDR, or (with `domains`, allowOut only) a host name or `*.` wildcard. Host bits set ("10.0.0.1/8") are refused rather than masked: the
 * writer may have meant a /32, and guessing wrong in a firewall rule opens or closes far more
 * than intended.
 */
export function egressEntryProblem(
  raw: unknown,
  domains = false,
): { code: ErrorCode; problem: string } | undefined {
  if (typeof raw !== "string") {
    return { code: "invalid_request", problem: `must be a string, got ${typeof raw}` };
  }
  const entry = raw.trim();
  const shown = JSON.stringify(entry.slice(0, LIMITS.egressEntryLength));
  if (entry.includes(":")) {
    return {
      code: "egress_ipv6_unsupported",
      problem: `${shown}: ${errorMessage("egress_ipv6_unsupported")}`,
    };
  }
  const [address, prefix, ...rest] = entry.split("/");
  const value = address === undefined ? undefined : ipv4Value(address);
  if (value === undefined && rest.length === 0 && prefix === undefined && DOMAIN.test(entry)) {
    if (domains && egressDomain(entry) !== undefined) return undefined;
    return {
      code: "egress_domains_unsupported",
      problem: `${shown}: ${errorMessage("egress_domains_unsupported")}`,
    };
  }
  if (entry.length > 18 || rest.length > 0 || value === undefined) {
    const what = domains ? "an IPv4 address, CIDR or host name" : "an IPv4 address or CIDR";
    return { code: "invalid_request", problem: `${shown} is not ${what}` };
  }
  if (prefix !== undefined && !PREFIX.test(prefix)) {
    return { code: "invalid_request", problem: `${shown} has a bad prefix length (want 0-32)` };
  }
  const prefixLen = prefix === undefined ? 32 : Number(prefix);
  const base = (value & maskOf(prefixLen)) >>> 0;
  if (base !== value) {
    return {
      code: "invalid_request",
      problem: `${shown} has host bits set; did you mean ${formatIpv4(base)}/${prefixLen} or ${address}/32?`,
    };
  }
  return undefined;
}

/**
 * allowOut or denyOut: IPv4 addresses or CIDR blocks, at most LIMITS.egressEntries; with
 * `domains` (allowOut) also host names and `*.` wildcards, returned in canonical form (see
 * egressDomain). Returns the entries without surrounding blanks.
 */
export function checkEgressList(name: string, value: unknown, domains = false): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw invalidInput(
      `${name} must be an array of IPv4 addresses or CIDRs${domains ? " or host names" : ""}`,
    );
  }
  if (value.length > LIMITS.egressEntries) {
    throw invalidInput(`${name} has ${value.length} entries (at most ${LIMITS.egressEntries})`);
  }
  return value.map((entry, i) => {
    const refused = egressEntryProblem(entry, domains);
    if (refused) throw new ContractError(refused.code, `${name}[${i}]: ${refused.problem}`);
    const trimmed = (entry as string).trim();
    return ipv4Value(trimmed.split("/")[0] ?? "") === undefined
      ? (egressDomain(trimmed) ?? trimmed)
      : trimmed;
  });
}

/**
 * A sandbox's egress rules, E2B's semantics (the same on /v1, the E2B API, the SDK, the CLI
 * and the agent):
 * - a destination in `allowOut` is reachable, whatever `denyOut` says (allow wins); allowOut
 *   may name hosts (`example.com`, `*.example.com`): TCP to ports 80 and 443 whose TLS SNI or
 *   HTTP Host is such a name is let out by the agent's egress proxy (egressAllowsHost);
 * - otherwise one in `denyOut` is not;
 * - otherwise it is reachable exactly when `allowInternet` is set. `allowInternet: false` is
 *   E2B's `allow_internet_access: false`, i.e. `denyOut: ["0.0.0.0/0"]`: nothing but allowOut.
 * Whatever the rules say, the host, other sandboxes and the always-denied ranges (private,
 * link-local and metadata addresses) stay closed unless the operator opens a range.
 */
export interface EgressPolicy {
  allowInternet: boolean;
  allowOut: string[];
  denyOut: string[];
  /** Every allowed TCP connection goes through this SOCKS5 proxy (see EgressProxyConfig). */
  egressProxy?: EgressProxyConfig;
  /**
   * Header rules per domain (see EgressHeaderRules): never allow anything by themselves. Absent when
   * there are none. Between the control plane and the agent the values are resolved secrets.
   */
  rules?: EgressHeaderRules;
}

/** Checks both lists of a policy; `allowInternet` defaults to false (no internet). */
export function checkEgressPolicy(value: {
  allowInternet?: unknown;
  allowOut?: unknown;
  denyOut?: unknown;
  egressProxy?: unknown;
  rules?: unknown;
}): EgressPolicy {
  if (value.allowInternet !== undefined && typeof value.allowInternet !== "boolean") {
    throw invalidInput("allowInternet must be a boolean");
  }
  const egressProxy = checkEgressProxy("network.egressProxy", value.egressProxy);
  const rules = checkEgressHeaderRules("network.rules", value.rules);
  return {
    allowInternet: value.allowInternet ?? false,
    allowOut: checkEgressList("network.allowOut", value.allowOut, true),
    denyOut: checkEgressList("network.denyOut", value.denyOut),
    ...(egressProxy ? { egressProxy } : {}),
    ...(rules ? { rules } : {}),
  };
}

type PolicyView = {
  readonly allowInternet: boolean;
  readonly allowOut: readonly string[];
  readonly denyOut: readonly string[];
};

/** Whether a policy lets anything out at all (some egress rule has to be installed). */
export function egressOpen(policy: Omit<PolicyView, "denyOut">): boolean {
  return policy.allowInternet || policy.allowOut.length > 0;
}

function inCidr(ip: number, cidr: string): boolean {
  const [address = "", prefix] = cidr.split("/");
  const base = ipv4Value(address);
  if (base === undefined) return false;
  const mask = maskOf(prefix === undefined ? 32 : Number(prefix));
  return (ip & mask) >>> 0 === (base & mask) >>> 0;
}

/**
 * The policy's verdict on one IPv4 destination, by the rules of EgressPolicy (the firewall
 * renders the same order into nftables); domain rules play no part (they are decided per
 * connection by name, see egressAllowsHost). Says nothing of the always-denied ranges, which the
 * host closes before any policy is read. False for anything that is not an IPv4 address.
 */
export function egressAllows(policy: PolicyView, address: string): boolean {
  const ip = ipv4Value(address);
  if (ip === undefined) return false;
  if (policy.allowOut.some((c) => inCidr(ip, c))) return true;
  if (!policy.allowInternet) return false;
  return !policy.denyOut.some((c) => inCidr(ip, c));
}
