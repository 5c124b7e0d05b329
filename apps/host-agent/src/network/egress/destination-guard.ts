import { lookup } from "node:dns/promises";
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { cidrContains, type Ipv4Cidr, parseIpv4 } from "../ipv4.js";

/** The always-denied part of the firewall (FirewallConfig's), as the proxy checks it. */
export interface DeniedRanges {
  readonly pool: Ipv4Cidr;
  readonly alwaysDenyOut: readonly Ipv4Cidr[];
  readonly egressAllow: readonly Ipv4Cidr[];
}

const single = (ip: number): Ipv4Cidr => ({ base: ip, prefixLen: 32 });

/**
 * Why the proxy must not connect to an address it resolved for a sandbox, or undefined when it
 * may: the same order as the firewall's deny_out chain (the pool always; the admin's opened
 * ranges; then the always-denied ranges), plus the host's own addresses, which the firewall
 * closes with its input chain (the proxy runs on the host, so it would otherwise reach them).
 * A name resolving to any of these is how a rebinding answer or a hostile DNS record would
 * turn the proxy into a way around the firewall.
 */
export function deniedDestination(r: DeniedRanges, address: string): string | undefined {
  let ip: number;
  try {
    ip = parseIpv4(address);
  } catch {
    return "not an IPv4 address";
  }
  if (cidrContains(r.pool, single(ip))) return "another sandbox";
  if (hostAddresses().has(address)) return "the host itself";
  if (r.egressAllow.some((c) => cidrContains(c, single(ip)))) return undefined;
  if (r.alwaysDenyOut.some((c) => cidrContains(c, single(ip)))) return "an always-denied range";
  return undefined;
}

function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4") out.add(a.address);
  }
  return out;
}

/**
 * Why the agent must not open a sandbox's SOCKS5 tunnel to its egressProxy, or undefined when
 * it may. The proxy is the user's or operator's and may well be on a private network or the
 * host (so the always-denied ranges do not apply), but never another sandbox, nor one of the
 * agent's own ports on the host: either would let a sandbox reach what its isolation closes.
 * A host name is resolved here, at each connection, so a changed answer is caught too.
 */
export async function deniedProxyAddress(
  r: DeniedRanges,
  host: string,
  port: number,
  reservedPorts: readonly number[],
): Promise<string | undefined> {
  let address = host;
  if (!isIPv4(host)) {
    try {
      address = (await lookup(host, { family: 4 })).address;
    } catch (err) {
      return `cannot resolve the proxy's host (${(err as NodeJS.ErrnoException).code})`;
    }
  }
  const ip = parseIpv4(address);
  if (cidrContains(r.pool, single(ip))) return "the proxy is in the sandbox pool";
  const local = hostAddresses().has(address) || address.startsWith("127.");
  if (local && reservedPorts.includes(port)) return "the proxy is one of the agent's own ports";
  return undefined;
}
