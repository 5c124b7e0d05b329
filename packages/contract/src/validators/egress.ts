import { invalidInput } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";

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
 * Why an egress entry is refused, or undefined when it is an IPv4 address or CIDR. Host bits
 * set ("10.0.0.1/8") are refused rather than masked: the writer may have meant a /32, and
 * guessing wrong in a firewall rule opens or closes far more than intended.
 */
export function egressEntryProblem(raw: unknown): string | undefined {
  if (typeof raw !== "string") return `must be a string, got ${typeof raw}`;
  const entry = raw.trim();
  const shown = JSON.stringify(entry.slice(0, LIMITS.egressEntryLength));
  if (entry.includes(":")) {
    return `${shown}: IPv6 egress rules are not supported yet (sandboxes have IPv4 only)`;
  }
  const [address, prefix, ...rest] = entry.split("/");
  const value = address === undefined ? undefined : ipv4Value(address);
  if (entry.length > 18 || rest.length > 0 || value === undefined) {
    return `${shown} is not an IPv4 address or CIDR (names are not resolved)`;
  }
  if (prefix !== undefined && !PREFIX.test(prefix)) {
    return `${shown} has a bad prefix length (want 0-32)`;
  }
  const prefixLen = prefix === undefined ? 32 : Number(prefix);
  const base = (value & maskOf(prefixLen)) >>> 0;
  if (base !== value) {
    return `${shown} has host bits set; did you mean ${formatIpv4(base)}/${prefixLen} or ${address}/32?`;
  }
  return undefined;
}

/**
 * allowOut or denyOut: IPv4 addresses or CIDR blocks, at most LIMITS.egressEntries. Returns
 * the entries without surrounding blanks.
 */
export function checkEgressList(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw invalidInput(`${name} must be an array of IPv4 addresses or CIDRs`);
  }
  if (value.length > LIMITS.egressEntries) {
    throw invalidInput(`${name} has ${value.length} entries (at most ${LIMITS.egressEntries})`);
  }
  return value.map((entry, i) => {
    const problem = egressEntryProblem(entry);
    if (problem) throw invalidInput(`${name}[${i}]: ${problem}`);
    return (entry as string).trim();
  });
}
