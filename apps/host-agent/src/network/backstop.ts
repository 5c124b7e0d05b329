import { existsSync } from "node:fs";
import { runCommand } from "../command/run-command.js";
import { addressRules, cidrSet, denyOutRules, type FirewallConfig } from "./firewall.js";
import { cidrContains, formatCidr, type Ipv4Cidr, normalizeCidrs, parseCidr } from "./ipv4.js";
import type { NetworkLogger } from "./logger.js";
import { GUEST_IF } from "./netlink.js";
import { inBatches } from "./network-reconcile.js";
import { hasDomainRules, type NetworkPolicy } from "./policy.js";

/**
 * The backstop: a `netdev` table inside each sandbox's own network namespace, hooked on the
 * egress of the guest end of its veth. Why there: runsc's netstack sends through that
 * interface with packet sockets, which the namespace's ip-family hooks never see, but every
 * frame leaving the interface passes its netdev egress hook (qdisc bypass included, kernel
 * >= 5.16; checked against real runsc by tests/host-agent/isolation.test.ts). A `nft flush
 * ruleset`, a firewall reload or a hand edit in the root namespace never touches another
 * namespace's rules, and nothing inside gVisor can reach this namespace's nftables. So while
 * the root tables are gone (until `verifyFirewall` rebuilds them) a sandbox still reaches
 * none of the host, other sandboxes or the networks around the host: isolation fails closed.
 *
 * It is coarse on purpose and stateless (netdev has no conntrack); the root table keeps the
 * fine policy (allowOut/denyOut, internet access, the egress proxy's redirects). What it lets
 * through, and why each is safe without state:
 * - ARP: the sandbox resolving its gateway; ARP carries no payload to a service.
 * - TCP to the gateway that is not a connection opening (SYN without ACK): replies to the
 *   connections the host opens into the sandbox (the agent → envd on 49983, the proxy → user
 *   ports). Without a SYN no socket on the host can be reached; a stray segment meets a
 *   reset. (A listener under a SYN flood answering with SYN cookies could in theory accept a
 *   guessed cookie: some 2^32 tries per minute, and only while the root tables are gone.)
 * - ICMP errors and echo replies to the gateway: answers, never requests.
 * - The deny set of the root table's deny_out (one definition, `denyOutRules`): the pool and
 *   the host's own addresses dropped, the name servers on port 53 and the admin's opened
 *   ranges (WRENN_EGRESS_ALLOW_CIDRS) through, every always-denied range dropped.
 * - The rest (public addresses) as the sandbox's policy says (see policyTail): with internet
 *   access through to the root table, which applies the policy; otherwise only what the
 *   policy lets out (its allowOut addresses; with host names, TCP 80/443 and DNS, which the
 *   root table steers to the egress proxy) and nothing else. Without the root table there is
 *   no masquerade, but forwarding stays on while any sandbox has egress: a deny-all sandbox's
 *   packet to a public address would still leave the host, so the backstop must drop it.
 * The source must be the sandbox's own address (the root table's reverse-path check, again),
 * and IPv6 is dropped as the root table drops it.
 */
export const BACKSTOP_TABLE = "wrenn_backstop";

export interface BackstopSlot {
  readonly netnsPath: string;
  readonly guestIp: string;
  readonly hostIp: string;
  /** The sandbox's egress policy: the backstop's final verdict follows it. */
  readonly policy: NetworkPolicy;
}

/** The whole table, replaced in one transaction (idempotent). */
export function backstopStatements(
  c: FirewallConfig,
  slot: BackstopSlot,
  hostAddresses: readonly string[],
): string[] {
  const t = `netdev ${BACKSTOP_TABLE}`;
  const out = `${t} out`;
  const gw = slot.hostIp;
  // The host's addresses inside the pool are other sandboxes' gateways: the pool rule has them.
  const own = hostRuleAddresses(c, hostAddresses);
  const lines = [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t}`,
    `add set ${t} host { type ipv4_addr; flags interval; }`,
    `add chain ${out} { type filter hook egress device "${GUEST_IF}" priority filter; policy accept; }`,
    `add rule ${out} meta protocol arp accept`,
    `add rule ${out} meta protocol != ip drop`,
    `add rule ${out} ip saddr != ${slot.guestIp} drop`,
    // A fragment carries no reliable TCP header (the flags below may sit in another one).
    `add rule ${out} ip daddr ${gw} ip frag-off & 0x3fff != 0 drop`,
    `add rule ${out} ip daddr ${gw} tcp flags & (syn | ack) == syn drop`,
    `add rule ${out} ip daddr ${gw} meta l4proto tcp accept`,
    `add rule ${out} ip daddr ${gw} icmp type { echo-reply, destination-unreachable, time-exceeded, parameter-problem } accept`,
    `add rule ${out} ip daddr ${gw} drop`,
    `add rule ${out} ip daddr @host drop`,
    ...denyOutRules(c, out, "accept"),
    ...policyTail(c, out, slot.policy),
  ];
  if (own.length > 0) lines.splice(4, 0, `add element ${t} host ${cidrSet(own.map(parseCidr))}`);
  return lines;
}

/**
 * What the policy lets out past the deny set, as the root table would: with internet access
 * everything goes on to the root table (which applies denyOut, and without which nothing is
 * masqueraded); otherwise allowOut's addresses (the same `addressRules` as the root table's
 * chain), with host names TCP 80/443 and DNS to any address (the root table redirects them to
 * the egress proxy; here they still carry their original destination), and nothing else. A
 * narrower policy therefore holds even with the root tables gone. netdev egress cannot reject
 * ("Operation not supported" on 6.x kernels), so the end is a drop: a new connection the
 * policy forbids now times out where the root table alone refused it with a reset.
 */
function policyTail(c: FirewallConfig, out: string, p: NetworkPolicy): string[] {
  if (p.allowInternet) return [];
  const lines = addressRules(out, p, "accept");
  if (hasDomainRules(p) && c.proxy) {
    lines.push(
      `add rule ${out} udp dport 53 accept`,
      `add rule ${out} tcp dport { 53, 80, 443 } accept`,
    );
  }
  // TCP that opens no connection goes on to the root table: what a connection opened before
  // a narrowing update sends next, which the root table answers with a reset (see
  // cutForbiddenFlows), so it ends at once instead of hanging. Without the root table it
  // opens nothing: no handshake completes without a SYN (and gVisor has no raw sockets
  // unless runsc runs with --net-raw, which the agent never sets).
  lines.push(`add rule ${out} tcp flags & (syn | ack) != syn accept`, `add rule ${out} drop`);
  return lines;
}

/**
 * The host addresses the backstop must list itself: those the deny set would not drop anyway
 * (outside the pool, and outside the always-denied ranges or touching a range opened by the
 * admin or a name server). So other stacks' sandbox gateways (private ranges) coming and
 * going on a shared host change nothing here; a public address (or one in an opened range)
 * does. Entries are addresses or ranges (an AnyIP local route), returned canonical.
 */
export function hostRuleAddresses(c: FirewallConfig, addresses: readonly string[]): string[] {
  const within = (cidrs: readonly Ipv4Cidr[], x: Ipv4Cidr) => cidrs.some((o) => cidrContains(o, x));
  const overlaps = (cidrs: readonly Ipv4Cidr[], x: Ipv4Cidr) =>
    cidrs.some((o) => cidrContains(o, x) || cidrContains(x, o));
  const dns = c.dnsServers.map((a) => parseCidr(`${a}/32`));
  const kept = addresses
    .map((a) => parseCidr(a))
    .filter(
      (x) =>
        !within([c.pool], x) &&
        (!within(c.alwaysDenyOut, x) || overlaps(c.egressAllow, x) || overlaps(dns, x)),
    );
  return normalizeCidrs(kept).map(formatHost);
}

const formatHost = (x: Ipv4Cidr) => formatCidr(x).replace(/\/32$/, "");

/**
 * Every destination the host itself answers on, from `ip -j -4 route show table local`: its
 * interface addresses (`local`), the directed broadcasts of its subnets (`broadcast`: a
 * public subnet's reaches the host too) and AnyIP routes (`local` with a prefix: a whole
 * range the host accepts as its own). Interface addresses alone miss the last two.
 */
export function parseLocalRoutes(json: string): string[] {
  const routes = JSON.parse(json) as { type?: string; dst?: string }[];
  return routes
    .filter((r) => (r.type === "local" || r.type === "broadcast") && typeof r.dst === "string")
    .map((r) => formatHost(parseCidr(r.dst!)));
}

/** The host's local destinations (root namespace): see parseLocalRoutes. */
export async function hostAddresses(): Promise<string[]> {
  const out = await runCommand("ip", ["-j", "-4", "route", "show", "table", "local"]);
  return parseLocalRoutes(out);
}

/** Runs an nft script inside a namespace (nsenter: no mount namespace games, unlike ip netns exec). */
export async function nftIn(netnsPath: string, script: readonly string[]): Promise<void> {
  await runCommand("nsenter", [`--net=${netnsPath}`, "nft", "-f", "-"], {
    input: `${script.join("\n")}\n`,
  });
}

/**
 * Whether this kernel (and nft) can hook netdev egress (Linux >= 5.16). Checked with `nft
 * --check` on loopback: the kernel validates the chain and the transaction is aborted, so
 * nothing is installed anywhere.
 */
export async function backstopSupported(): Promise<string | null> {
  const t = `netdev ${BACKSTOP_TABLE}_probe`;
  try {
    await runCommand("nft", ["--check", "-f", "-"], {
      input: `add table ${t}\nadd chain ${t} out { type filter hook egress device "lo" priority filter; policy accept; }\n`,
    });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The backstops of one manager: written at setup (the table lives and dies with the
 * namespace), rewritten for every live sandbox at agent start (reconcile: adopted sandboxes
 * and a changed configuration) and when the host's addresses change (checked with every
 * firewall verification).
 */
export class Backstops {
  private support: Promise<boolean> | undefined;
  /** The host addresses the backstops were last written with (see hostRuleAddresses). */
  private host: string[] | undefined;
  /** Namespaces whose last write failed: the next refresh writes them again. */
  private failed = new Set<string>();

  constructor(
    private readonly config: FirewallConfig,
    private readonly log: NetworkLogger,
  ) {}

  /** Detected once: a kernel without netdev egress keeps only the root tables (and a warning). */
  supported(): Promise<boolean> {
    this.support ??= backstopSupported().then((why) => {
      if (why !== null) {
        this.log.warn(
          { why },
          "no netdev egress hook (Linux >= 5.16 needed): sandboxes get no backstop; after a " +
            "`nft flush ruleset` only the periodic firewall check restores their isolation",
        );
      }
      return why === null;
    });
    return this.support;
  }

  /** Writes one sandbox's backstop (at setup, and with every policy change). */
  async install(slot: BackstopSlot): Promise<void> {
    if (!(await this.supported())) return;
    this.host ??= hostRuleAddresses(this.config, await hostAddresses());
    try {
      await nftIn(slot.netnsPath, backstopStatements(this.config, slot, this.host));
      this.failed.delete(slot.netnsPath);
    } catch (err) {
      this.failed.add(slot.netnsPath);
      throw err;
    }
  }

  /**
   * A policy change: rewrites the backstop of a sandbox whose namespace exists; one that has
   * none yet (allocated, not set up) gets it, with the stored policy, at setup.
   */
  async update(slot: BackstopSlot): Promise<void> {
    if (existsSync(slot.netnsPath)) await this.install(slot);
  }

  /**
   * Rewrites every backstop if the host's addresses changed since they were written (or
   * `force`); otherwise only those that failed last time. A namespace that is not there (a
   * setup that never finished) is skipped. Returns how many were rewritten; throws (an
   * AggregateError) when some could not be, after writing all the others.
   */
  async refresh(slots: readonly BackstopSlot[], force = false): Promise<number> {
    if (!(await this.supported())) return 0;
    const now = hostRuleAddresses(this.config, await hostAddresses());
    const changed = force || this.host === undefined || now.join() !== this.host.join();
    const live = slots.filter(
      (slot) => (changed || this.failed.has(slot.netnsPath)) && existsSync(slot.netnsPath),
    );
    this.host = now;
    // Only the namespaces that fail are retried by the next verification: one permanently bad
    // namespace must not make every check rewrite them all.
    this.failed = new Set();
    const errors: unknown[] = [];
    await inBatches(live, 8, (slot) =>
      nftIn(slot.netnsPath, backstopStatements(this.config, slot, now)).catch((err: unknown) => {
        this.failed.add(slot.netnsPath);
        errors.push(err);
      }),
    );
    if (errors.length > 0) {
      throw new AggregateError(
        errors,
        `${errors.length} of ${live.length} backstops could not be written`,
      );
    }
    return live.length;
  }
}
