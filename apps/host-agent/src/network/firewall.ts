import { runCommand } from "../command/run-command.js";
import { invalidArgument } from "./errors.js";
import { readFirewallState } from "./firewall-state.js";
import { formatCidr, type Ipv4Cidr, normalizeCidrs, parseCidr } from "./ipv4.js";
import {
  allowedCidrs,
  hasDomainRules,
  hasEgress,
  hasTunnel,
  isSteered,
  type NetworkPolicy,
} from "./policy.js";
import { TUNNEL_CT_MATCH } from "./tunnel-marks.js";

export interface FirewallConfig {
  /** Our table, `inet <table>`, and its guard `inet <table>_guard`; nothing else is touched. */
  readonly table: string;
  /** Every sandbox host-side interface starts with this; rules match `<prefix>*`. */
  readonly ifPrefix: string;
  readonly pool: Ipv4Cidr;
  /** Unreachable from every sandbox even with internet access (see ALWAYS_DENIED_OUT). */
  readonly alwaysDenyOut: readonly Ipv4Cidr[];
  /** Ranges an admin opened inside alwaysDenyOut (never the pool: that is other sandboxes). */
  readonly egressAllow: readonly Ipv4Cidr[];
  /** The name servers sandboxes are given: reachable on port 53 even inside alwaysDenyOut. */
  readonly dnsServers: readonly string[];
  /**
   * The egress proxy's ports on the host (every sandbox's gateway address): where the TCP 80/443
   * and DNS of sandboxes with domain rules are redirected. Absent: no domain rules possible.
   */
  readonly proxy?: {
    readonly http: number;
    readonly tls: number;
    readonly dns: number;
    /** Other TCP of sandboxes with an egressProxy, tunneled through it. */
    readonly tunnel: number;
  };
}

/** What the rules of one sandbox are keyed on. */
export interface FirewallEntry {
  readonly hostIf: string;
  readonly chain: string;
  /** Its nat chain steering traffic to the egress proxy (only with domain rules). */
  readonly steerChain: string;
}

/** What the table must hold for every sandbox; used to rebuild it whole. */
export type FirewallEntries = readonly { entry: FirewallEntry; policy: NetworkPolicy }[];

/** Leaves room for the guard's suffix within nft's 31 characters of older kernels. */
export function assertTableName(table: string): void {
  if (!/^[a-z][a-z0-9_]{0,24}$/.test(table)) {
    throw invalidArgument(
      `invalid nftables table name ${JSON.stringify(table)} (lowercase letters, digits, "_", ` +
        "at most 25 characters)",
    );
  }
}

/** The second table that holds the deny rules on its own (see guardStatements). */
export function guardTableOf(table: string): string {
  return `${table}_guard`;
}

export function cidrSet(cidrs: readonly Ipv4Cidr[]): string {
  return `{ ${normalizeCidrs(cidrs).map(formatCidr).join(", ")} }`;
}

/**
 * What the egress policy refuses ends here: TCP with a reset, the rest with an ICMP
 * "administratively prohibited", then a drop for anything a reject cannot answer. A reset
 * rather than silence means a connection the policy forbids fails at once, and one that a
 * policy update just forbade is cut on the sandbox's next packet (see cutForbiddenFlows)
 * instead of hanging until its timeouts. The always-denied ranges (deny_out) stay a silent drop.
 * `head` is the chain, and any match, the rules start with.
 */
function refuse(head: string): string[] {
  return [
    `add rule ${head} meta l4proto tcp reject with tcp reset`,
    `add rule ${head} reject with icmpx type admin-prohibited`,
    `add rule ${head} drop`,
  ];
}

/**
 * What isolates sandboxes whatever their policy, written identically into both tables, so
 * that removing either (a hand edit, a firewall tool deleting "foreign" tables) leaves every
 * sandbox isolated until the periodic check restores it. Every statement is idempotent (`add`
 * of what exists is a no-op; chains are flushed and refilled in the same transaction).
 * - prerouting (before conntrack): a sandbox may only send from an address routed back
 *   through its own interface (strict reverse-path check), so it can neither pose as another
 *   sandbox to ride on that one's host connections nor send forged sources out; no IPv6.
 * - input: from a sandbox only replies to connections the host opened (agent → envd), so no
 *   address of the host (its own, loopback, the agent's and control plane's ports) is open.
 * - forward into a sandbox: only replies; so sandbox ↔ sandbox and outside → sandbox are
 *   dropped.
 * - deny_out, jumped to first for everything a sandbox sends through the host: the pool
 *   (other sandboxes) always, the name servers on port 53 through, the admin's opened ranges
 *   through, then every always-denied range. It runs before any per-sandbox (user) rule, so
 *   no user policy can open what it drops.
 * Base chains keep policy accept: these tables restrict sandboxes, not the rest of the host.
 */
function isolationStatements(c: FirewallConfig, table: string): string[] {
  const t = `inet ${table}`;
  const sb = `"${c.ifPrefix}*"`;
  const deny = [`flush chain ${t} deny_out`, ...denyOutRules(c, `${t} deny_out`, "return")];
  return [
    `add table ${t}`,
    `add chain ${t} deny_out`,
    `add chain ${t} prerouting { type filter hook prerouting priority raw; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    ...deny,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting iifname ${sb} meta nfproto ipv6 drop`,
    `add rule ${t} prerouting iifname ${sb} fib saddr . iif oif missing drop`,
    `flush chain ${t} input`,
    `add rule ${t} input iifname ${sb} ct state established,related accept`,
    ...proxyInput(c, t, sb),
    `add rule ${t} input iifname ${sb} drop`,
    `flush chain ${t} forward`,
    `add rule ${t} forward oifname ${sb} ct state established,related accept`,
    // A workspace's WireGuard tunnel: its own table DNATs to that workspace alone (tunnel-marks.ts).
    `add rule ${t} forward oifname ${sb} ${TUNNEL_CT_MATCH} ct status dnat ct direction original accept`,
    `add rule ${t} forward oifname ${sb} drop`,
    `add rule ${t} forward iifname ${sb} ${TUNNEL_CT_MATCH} ct status dnat ct direction reply accept`,
    `add rule ${t} forward iifname ${sb} jump deny_out`,
  ];
}

/**
 * The always-denied set, in order, as rules starting with `head`: the pool (other sandboxes)
 * dropped, the name servers on port 53 and the admin's opened ranges passed on (`pass`), every
 * always-denied range dropped. One definition for the root tables' deny_out (`return`: on to
 * the sandbox's own rules) and the backstop in each sandbox's namespace (`accept`: on to the
 * root tables), so the two can never disagree about what is denied.
 */
export function denyOutRules(c: FirewallConfig, head: string, pass: "return" | "accept"): string[] {
  const rules = [`add rule ${head} ip daddr ${cidrSet([c.pool])} drop`];
  if (c.dnsServers.length > 0) {
    const dns = `{ ${[...new Set(c.dnsServers)].join(", ")} }`;
    rules.push(
      `add rule ${head} ip daddr ${dns} udp dport 53 ${pass}`,
      `add rule ${head} ip daddr ${dns} tcp dport 53 ${pass}`,
    );
  }
  if (c.egressAllow.length > 0) {
    rules.push(`add rule ${head} ip daddr ${cidrSet(c.egressAllow)} ${pass}`);
  }
  if (c.alwaysDenyOut.length > 0) {
    rules.push(`add rule ${head} ip daddr ${cidrSet(c.alwaysDenyOut)} drop`);
  }
  return rules;
}

/**
 * The egress proxy's ports are open to sandboxes only for what our nat chain redirected there
 * (`ct status dnat`): a sandbox connecting to the host's address and port directly is dropped
 * like any other connection to the host. The proxy listens on every host address, so from
 * anywhere but a sandbox interface (the LAN, loopback) its ports are closed too: it serves
 * sandboxes and nobody else.
 */
function proxyInput(c: FirewallConfig, t: string, sb: string): string[] {
  if (!c.proxy) return [];
  const { http, tls, dns, tunnel } = c.proxy;
  const tcp = `{ ${[...new Set([http, tls, dns, tunnel])].join(", ")} }`;
  return [
    `add rule ${t} input iifname != ${sb} tcp dport ${tcp} drop`,
    `add rule ${t} input iifname != ${sb} udp dport ${dns} drop`,
    `add rule ${t} input iifname ${sb} ct status dnat tcp dport ${tcp} accept`,
    `add rule ${t} input iifname ${sb} ct status dnat udp dport ${dns} accept`,
  ];
}

/**
 * Our table: the isolation rules, then each sandbox's own egress chain through `@egress`
 * (absent when the policy lets nothing out, so the final refusal applies), and the masquerade.
 */
function baseStatements(c: FirewallConfig): string[] {
  const t = `inet ${c.table}`;
  const sb = `"${c.ifPrefix}*"`;
  return [
    `add table ${t}`,
    `add map ${t} egress { type ifname : verdict; }`,
    `add map ${t} proxied { type ifname : verdict; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} steer { type nat hook prerouting priority dstnat; policy accept; }`,
    ...isolationStatements(c, c.table),
    `add rule ${t} forward iifname ${sb} iifname vmap @egress`,
    ...refuse(`${t} forward iifname ${sb}`),
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting iifname ${sb} oifname != ${sb} masquerade`,
    `flush chain ${t} steer`,
    `add rule ${t} steer iifname ${sb} iifname vmap @proxied`,
  ];
}

/**
 * The guard: the isolation rules again, plus the set of sandboxes allowed out at all. The
 * agent only ever adds and removes elements of it; it never rewrites or deletes it while
 * sandboxes exist, so whatever happens to our table, nothing gets past the guard that the
 * policy would not allow (and without our table's masquerade nothing goes out at all).
 */
function guardStatements(c: FirewallConfig): string[] {
  const t = `inet ${guardTableOf(c.table)}`;
  const sb = `"${c.ifPrefix}*"`;
  return [
    `add table ${t}`,
    `add set ${t} internet { type ifname; }`,
    ...isolationStatements(c, guardTableOf(c.table)),
    ...refuse(`${t} forward iifname ${sb} iifname != @internet`),
  ];
}

/**
 * Removes one sandbox's egress rules whether or not they exist: nft (before 1.0.8) has no
 * "delete if present", so each object is first added (a no-op when present; the values are
 * derived from the names, so they match) and then deleted.
 */
function removeStatements(c: FirewallConfig, e: FirewallEntry): string[] {
  const t = `inet ${c.table}`;
  const g = `inet ${guardTableOf(c.table)}`;
  return [
    `add chain ${t} ${e.chain}`,
    `add element ${t} egress { "${e.hostIf}" : jump ${e.chain} }`,
    `delete element ${t} egress { "${e.hostIf}" }`,
    `flush chain ${t} ${e.chain}`,
    `delete chain ${t} ${e.chain}`,
    `add chain ${t} ${e.steerChain}`,
    `add element ${t} proxied { "${e.hostIf}" : jump ${e.steerChain} }`,
    `delete element ${t} proxied { "${e.hostIf}" }`,
    `flush chain ${t} ${e.steerChain}`,
    `delete chain ${t} ${e.steerChain}`,
    `add element ${g} internet { "${e.hostIf}" }`,
    `delete element ${g} internet { "${e.hostIf}" }`,
  ];
}

/**
 * What the policy's addresses let out, in E2B's order: allowOut's addresses (allow wins over
 * deny), then with internet access all but denyOut. `verdict`: accept in the filter chain;
 * return in the nat chain (so the proxy never sees what an address rule already lets out).
 */
export function addressRules(ch: string, p: NetworkPolicy, verdict: "accept" | "return"): string[] {
  const lines: string[] = [];
  const cidrs = allowedCidrs(p);
  if (cidrs.length > 0) {
    lines.push(`add rule ${ch} ip daddr ${cidrSet(cidrs.map(parseCidr))} ${verdict}`);
  }
  if (p.allowInternet) {
    lines.push(
      p.denyOut.length > 0
        ? `add rule ${ch} ip daddr != ${cidrSet(p.denyOut.map(parseCidr))} ${verdict}`
        : `add rule ${ch} ${verdict}`,
    );
  }
  return lines;
}

/**
 * Nothing when the policy lets nothing out: the isolation rules already drop all of it.
 * Otherwise the sandbox's own chain holds the user's rules, after deny_out has run (so they
 * cannot open what it drops), in E2B's order: allowOut accepts (allow wins over deny), then,
 * with internet access, all but denyOut is accepted; the rest is refused (see refuse).
 * With domain rules, a nat chain first redirects to the egress proxy the sandbox's DNS and its
 * TCP to ports 80 and 443 that no address rule lets out (see steerStatements).
 */
function addStatements(c: FirewallConfig, e: FirewallEntry, p: NetworkPolicy): string[] {
  if (!hasEgress(p)) return [];
  const t = `inet ${c.table}`;
  const ch = `${t} ${e.chain}`;
  const lines = [`add chain ${ch}`, ...addressRules(ch, p, "accept")];
  lines.push(
    ...refuse(ch),
    `add element ${t} egress { "${e.hostIf}" : jump ${e.chain} }`,
    `add element inet ${guardTableOf(c.table)} internet { "${e.hostIf}" }`,
    ...steerStatements(c, e, p),
  );
  return lines;
}

/**
 * Domain rules: DNS (UDP and TCP 53, to any address) goes to the proxy's forwarder; then what
 * an address rule lets out goes its own way; then TCP to 80 and 443 goes to the proxy, which
 * decides by name. Everything else meets the sandbox's filter chain as before (so other ports,
 * QUIC and other UDP are refused unless an address rule allows them). `redirect` sends to the
 * address of the interface the packet came in on: the sandbox's gateway, on the host.
 */
function steerStatements(c: FirewallConfig, e: FirewallEntry, p: NetworkPolicy): string[] {
  if (!isSteered(p) || !c.proxy) return [];
  const t = `inet ${c.table}`;
  const ch = `${t} ${e.steerChain}`;
  const lines = [`add chain ${ch}`];
  if (hasDomainRules(p)) {
    lines.push(
      `add rule ${ch} udp dport 53 redirect to :${c.proxy.dns}`,
      `add rule ${ch} tcp dport 53 redirect to :${c.proxy.dns}`,
    );
  }
  if (hasTunnel(p)) {
    // egressProxy: TCP that an address rule lets out goes to the tunnel port instead (the
    // proxy finds where it was going and asks the SOCKS5 proxy for it); UDP is not tunneled
    // and meets the filter chain as before.
    lines.push(
      ...addressRules(ch, p, "return").map((r) =>
        r.replace(/ return$/, ` meta l4proto tcp redirect to :${c.proxy!.tunnel}`),
      ),
    );
  } else {
    lines.push(...addressRules(ch, p, "return"));
  }
  if (hasDomainRules(p)) {
    lines.push(
      `add rule ${ch} tcp dport 80 redirect to :${c.proxy.http}`,
      `add rule ${ch} tcp dport 443 redirect to :${c.proxy.tls}`,
    );
  }
  lines.push(`add element ${t} proxied { "${e.hostIf}" : jump ${e.steerChain} }`);
  return lines;
}

async function applyRuleset(script: readonly string[]): Promise<void> {
  await runCommand("nft", ["-f", "-"], { input: `${script.join("\n")}\n` });
}

export interface FirewallHooks {
  /** The rules every sandbox should have now, for rebuilding a damaged table. */
  readonly entries: () => FirewallEntries;
  readonly onRebuild?: (why: string) => void;
}

/**
 * Our nftables tables. Costs that shaped this: every nft run pays ~5 ms to start and load its
 * cache, and any transaction that deletes or redefines something (replaying the base chains
 * included) waits for an RCU grace period, 10-20 ms more. So the base is installed once per
 * manager, a sandbox without internet access needs no nft run at all, and a first egress
 * setup only adds; replacing, removing and repairing take the slower idempotent paths. Every
 * change to the guard rides in the same transaction as the change to our table.
 */
export class Firewall {
  private baseInstalled = false;
  /** Both tables' base chains as the kernel reported them right after we installed them. */
  private canonicalBase: { table: string; guard: string } | undefined;

  constructor(
    readonly config: FirewallConfig,
    private readonly hooks: FirewallHooks,
  ) {}

  private get guard(): string {
    return guardTableOf(this.config.table);
  }

  /**
   * Installs one sandbox's rules. `fresh`: the caller knows none exist yet (first setup), so
   * only additions run.
   */
  async install(e: FirewallEntry, p: NetworkPolicy, fresh: boolean): Promise<void> {
    if (!fresh || !this.baseInstalled) {
      await this.replace(e, p);
      return;
    }
    const add = addStatements(this.config, e, p);
    if (add.length === 0) return;
    try {
      // `create` fails if the chain exists, where `add` would append a second copy of rules.
      await applyRuleset([add[0]!.replace(/^add chain/, "create chain"), ...add.slice(1)]);
    } catch {
      // A table is gone (a `nft flush ruleset`), or this sandbox's chain exists after all.
      // Either way nothing was applied: rebuild what every sandbox should have.
      this.hooks.onRebuild?.("egress rules could not be added");
      await this.rebuild(this.hooks.entries());
    }
  }

  /** Replaces one sandbox's rules in one transaction, re-asserting the base on the way. */
  async replace(e: FirewallEntry, p: NetworkPolicy): Promise<void> {
    await applyRuleset([
      ...guardStatements(this.config),
      ...baseStatements(this.config),
      ...removeStatements(this.config, e),
      ...addStatements(this.config, e, p),
    ]);
    this.baseInstalled = true;
  }

  /**
   * Idempotent. Never creates a table: a teardown must not leave an empty table behind
   * that a later fast-path install would mistake for an intact one.
   */
  async remove(e: FirewallEntry): Promise<void> {
    try {
      await applyRuleset(removeStatements(this.config, e));
    } catch (err) {
      const [table, guard] = await Promise.all([
        readFirewallState(this.config.table),
        readFirewallState(this.guard),
      ]);
      if (!table.exists && !guard.exists) return;
      // A table is missing or damaged (its map is gone): rebuild both without this sandbox.
      this.hooks.onRebuild?.(`removal failed: ${(err as Error).message}`);
      await this.rebuild(this.hooks.entries().filter((x) => x.entry.hostIf !== e.hostIf));
    }
  }

  /** Both tables from scratch, in one transaction: whatever leaked is simply not in them. */
  async rebuild(entries: FirewallEntries): Promise<void> {
    const t = `inet ${this.config.table}`;
    const g = `inet ${this.guard}`;
    await applyRuleset([
      `add table ${t}`,
      `delete table ${t}`,
      `add table ${g}`,
      `delete table ${g}`,
      ...guardStatements(this.config),
      ...baseStatements(this.config),
      ...entries.flatMap(({ entry, policy }) => addStatements(this.config, entry, policy)),
    ]);
    this.baseInstalled = true;
    const [table, guard] = await Promise.all([
      readFirewallState(this.config.table),
      readFirewallState(this.guard),
    ]);
    this.canonicalBase = { table: table.baseRules, guard: guard.baseRules };
  }

  /**
   * Compares the live tables with what they should be (base chains as installed, one egress
   * chain and one guard element per sandbox with internet access) and rebuilds them if they
   * differ, e.g. after a `nft flush ruleset` or a hand edit. Returns whether they were
   * intact. Meant to run periodically: each table isolates on its own, but only both together
   * carry every rule.
   */
  async verify(): Promise<boolean> {
    const expected = this.hooks.entries().filter((x) => hasEgress(x.policy));
    const ifs = expected.map((x) => x.entry.hostIf);
    const [live, guard] = await Promise.all([
      readFirewallState(this.config.table),
      readFirewallState(this.guard),
    ]);
    const base = this.canonicalBase;
    const why = !live.exists
      ? "table missing"
      : !guard.exists
        ? "guard table missing"
        : base !== undefined && (live.baseRules !== base.table || guard.baseRules !== base.guard)
          ? "base chains changed"
          : !sameMembers(live.egress, ifs) ||
              !sameMembers(guard.internet, ifs) ||
              !sameMembers(live.chains, [
                ...expected.map((x) => x.entry.chain),
                ...expected
                  .filter((x) => this.config.proxy && isSteered(x.policy))
                  .map((x) => x.entry.steerChain),
              ])
            ? "per-sandbox egress rules differ"
            : null;
    if (why === null) {
      // No reference for the base chains yet (they were installed by the fast or replace
      // path): reinstalling them is atomic and harmless, and gives one.
      if (base === undefined) await this.rebuild(this.hooks.entries());
      return true;
    }
    this.hooks.onRebuild?.(why);
    await this.rebuild(this.hooks.entries());
    return false;
  }

  /** Removes both tables: only when no sandbox of ours is left (or for good). */
  async deleteTable(): Promise<void> {
    await deleteTable(this.config.table);
    this.baseInstalled = false;
    this.canonicalBase = undefined;
  }
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

/** Removes a manager's table and its guard, whether or not they exist. */
export async function deleteTable(table: string): Promise<void> {
  const g = guardTableOf(table);
  await applyRuleset([
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `add table inet ${g}`,
    `delete table inet ${g}`,
  ]);
}

export { type FirewallState, readFirewallState } from "./firewall-state.js";
