import { invalidArgument } from "./errors.js";

/** An IPv4 network: `base` is the first address as an unsigned 32-bit integer. */
export interface Ipv4Cidr {
  readonly base: number;
  readonly prefixLen: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) {
    throw invalidArgument(`not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

function maskOf(prefixLen: number): number {
  // `>>> 0` keeps it unsigned; a shift by 32 is a no-op in JS, hence the special case.
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/**
 * Parses "a.b.c.d/n" (or a bare address, read as /32). Host bits set ("10.0.0.1/8") are
 * rejected rather than silently masked: the writer may have meant a /32, and guessing wrong
 * in a firewall rule opens or closes far more than intended.
 */
export function parseCidr(text: string): Ipv4Cidr {
  if (typeof text !== "string" || text.length > 18) {
    throw invalidArgument(`not an IPv4 CIDR: ${JSON.stringify(text)}`);
  }
  if (text.includes(":")) {
    throw invalidArgument(`IPv6 is not supported (sandboxes have IPv4 only): ${text}`);
  }
  const [addr, len, ...rest] = text.split("/");
  if (rest.length > 0 || addr === undefined) {
    throw invalidArgument(`not an IPv4 CIDR: ${JSON.stringify(text)}`);
  }
  let prefixLen = 32;
  if (len !== undefined) {
    if (!/^(3[0-2]|[12]?\d)$/.test(len)) {
      throw invalidArgument(`bad prefix length in ${JSON.stringify(text)} (want 0-32)`);
    }
    prefixLen = Number(len);
  }
  const value = parseIpv4(addr);
  const base = (value & maskOf(prefixLen)) >>> 0;
  if (base !== value) {
    throw invalidArgument(
      `${text} has host bits set; did you mean ${formatIpv4(base)}/${prefixLen} or ${addr}/32?`,
    );
  }
  return { base, prefixLen };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefixLen}`;
}

export function cidrSize(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefixLen);
}

export function cidrContains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  return (
    outer.prefixLen <= inner.prefixLen &&
    (inner.base & maskOf(outer.prefixLen)) >>> 0 === outer.base
  );
}

/**
 * Sorted, without entries covered by another one. nftables rejects overlapping intervals in
 * some versions and merges them in others; handing it a canonical list keeps rules
 * predictable and comparable.
 */
export function normalizeCidrs(cidrs: readonly Ipv4Cidr[]): Ipv4Cidr[] {
  const sorted = [...cidrs].sort((a, b) => a.base - b.base || a.prefixLen - b.prefixLen);
  const out: Ipv4Cidr[] = [];
  for (const c of sorted) {
    const last = out[out.length - 1];
    if (last && cidrContains(last, c)) continue;
    out.push(c);
  }
  return out;
}
