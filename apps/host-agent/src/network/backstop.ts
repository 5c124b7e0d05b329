import { existsSync } from "node:fs";
import { runCommand } from "./command.js";
import { denyOutRules, type FirewallConfig } from "./firewall.js";
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from "./ipv4.js";
import type { NetworkLogger } from "./logger.js";
import { GUEST_IF } from "./netlink.js";
import { inBatches } from "./network-reconcile.js";

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
 * - Everything else (public addresses): through to the root table, which applies the policy.
 *   Without the root table there is no masquerade, so nothing gets an answer from outside.
 * The source must be the sandbox's own address (the root table's reverse-path check, again),
 * and IPv6 is dropped as the root table drops it.
 */
export const BACKSTOP_TABLE = "wrenn_backstop";

export interface BackstopSlot {
  readonly netnsPath: string;
  readonly guestIp: string;
  readonly hostIp: string;
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
    `add set ${t} host { type ipv4_addr; }`,
    `add chain ${out} { type filter hook egress device "${GUEST_IF}" priority filter; policy accept; }`,
    `add rule ${out} meta protocol arp accept`,
    `add rule ${out} meta protocol != ip drop`,
    `add rule ${out} ip saddr != ${slot.guestIp} drop`,
    `add rule ${out} ip daddr ${gw} tcp flags & (syn | ack) == syn drop`,
    `add rule ${out} ip daddr ${gw} meta l4proto tcp accept`,
    `add rule ${out} ip daddr ${gw} icmp type { echo-reply, destination-unreachable, time-exceeded, parameter-problem } accept`,
    `add rule ${out} ip daddr ${gw} drop`,
    `add rule ${out} ip daddr @host drop`,
    ...denyOutRules(c, out, "accept"),
  ];
  if (own.length > 0) lines.splice(4, 0, `add element ${t} host { ${own.join(", ")} }`);
  return lines;
}

/**
 * The host addresses the backstop must list itself: those the deny set would not drop anyway
 * (outside the pool, and outside the always-denied ranges or opened by the admin or a name
 * server). So other stacks' sandbox gateways (private ranges) coming and going on a shared
 * host change nothing here; a public address (or one in an opened range) does.
 */
export function hostRuleAddresses(c: FirewallConfig, addresses: readonly string[]): string[] {
  const within = (cidrs: FirewallConfig["alwaysDenyOut"], a: string) =>
    cidrs.some((x) => cidrContains(x, parseCidr(`${a}/32`)));
  return [...new Set(addresses)]
    .filter(
      (a) =>
        !within([c.pool], a) &&
        (!within(c.alwaysDenyOut, a) || within(c.egressAllow, a) || c.dnsServers.includes(a)),
    )
    .sort();
}

/** The host's IPv4 addresses (root namespace), every interface. */
export async function hostAddresses(): Promise<string[]> {
  const out = (await runCommand("ip", ["-j", "-4", "addr", "show"])).stdout;
  const links = JSON.parse(out) as { addr_info?: { local?: string }[] }[];
  const all = links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
  return [...new Set(all.filter((a): a is string => typeof a === "string"))]
    .map((a) => formatIpv4(parseIpv4(a)))
    .sort();
}

/** Runs an nft script inside a namespace (nsenter: no mount namespace games, unlike ip netns exec). */
export async function nftIn(netnsPath: string, script: readonly string[]): Promise<void> {
  await runCommand("nsenter", [`--net=${netnsPath}`, "nft", "-f", "-"], `${script.join("\n")}\n`);
}

/**
 * Whether this kernel (and nft) can hook netdev egress (Linux >= 5.16). Checked with `nft
 * --check` on loopback: the kernel validates the chain and the transaction is aborted, so
 * nothing is installed anywhere.
 */
export async function backstopSupported(): Promise<string | null> {
  const t = `netdev ${BACKSTOP_TABLE}_probe`;
  try {
    await runCommand(
      "nft",
      ["--check", "-f", "-"],
      `add table ${t}\nadd chain ${t} out { type filter hook egress device "lo" priority filter; policy accept; }\n`,
    );
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

  async install(slot: BackstopSlot): Promise<void> {
    if (!(await this.supported())) return;
    this.host ??= hostRuleAddresses(this.config, await hostAddresses());
    await nftIn(slot.netnsPath, backstopStatements(this.config, slot, this.host));
  }

  /**
   * Rewrites every backstop if the host's addresses changed since they were written (or
   * `force`). A namespace that is not there (a setup that never finished) is skipped.
   * Returns how many were rewritten.
   */
  async refresh(slots: readonly BackstopSlot[], force = false): Promise<number> {
    if (!(await this.supported())) return 0;
    const now = hostRuleAddresses(this.config, await hostAddresses());
    if (!force && this.host !== undefined && now.join() === this.host.join()) return 0;
    // One namespace failing must not keep the others on old addresses; and the list is
    // recorded only once all are written, so the next verification tries again.
    const live = slots.filter((slot) => existsSync(slot.netnsPath));
    const failed: unknown[] = [];
    await inBatches(live, 8, (slot) =>
      nftIn(slot.netnsPath, backstopStatements(this.config, slot, now)).catch((err: unknown) => {
        failed.push(err);
      }),
    );
    if (failed.length > 0) {
      this.host = undefined; // the next verification writes them all again
      throw new AggregateError(
        failed,
        `${failed.length} of ${live.length} backstops could not be written`,
      );
    }
    this.host = now;
    return live.length;
  }
}
