import { runCommand } from "./command.js";
import { invalidArgument } from "./errors.js";
import { formatCidr, type Ipv4Cidr, normalizeCidrs, parseCidr } from "./ipv4.js";
import type { ResolvedPolicy } from "./policy.js";

export interface FirewallConfig {
  /** Our table, `inet <table>`; nothing else in the ruleset is touched. */
  readonly table: string;
  /** Every sandbox host-side interface starts with this; rules match `<prefix>*`. */
  readonly ifPrefix: string;
  readonly pool: Ipv4Cidr;
  /** Unreachable from every sandbox even with internet access (e.g. cloud metadata). */
  readonly alwaysDenyOut: readonly Ipv4Cidr[];
}

/** What the rules of one sandbox are keyed on. */
export interface FirewallEntry {
  readonly hostIf: string;
  readonly chain: string;
}

/** What the table must hold for every sandbox; used to rebuild it whole. */
export type FirewallEntries = readonly { entry: FirewallEntry; policy: ResolvedPolicy }[];

export function assertTableName(table: string): void {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(table)) {
    throw invalidArgument(
      `invalid nftables table name ${JSON.stringify(table)} (lowercase letters, digits, "_")`,
    );
  }
}

const BASE_CHAINS = ["prerouting", "input", "forward", "postrouting"];

/**
 * The fixed part of the table, which on its own isolates every sandbox; only egress needs
 * anything per sandbox. Every statement is idempotent (`add` of what exists is a no-op; base
 * chains are flushed and refilled in the same transaction), so it can be replayed in front of
 * any change. Design:
 * - prerouting (before conntrack): a sandbox may only send from an address routed back
 *   through its own interface (strict reverse-path check), so it can neither pose as another
 *   sandbox to ride on that one's host connections nor send forged sources out; no IPv6.
 * - input: from a sandbox only replies to connections the host opened (agent → envd).
 * - forward: out of a sandbox only via its egress chain (present only with internet access);
 *   into a sandbox only replies; so sandbox ↔ sandbox and outside → sandbox are dropped.
 * - postrouting: masquerade what a sandbox sends out of the host.
 * Base chains keep policy accept: this table restricts sandboxes, not the rest of the host.
 */
function baseStatements(c: FirewallConfig): string[] {
  const t = `inet ${c.table}`;
  const sb = `"${c.ifPrefix}*"`;
  return [
    `add table ${t}`,
    `add map ${t} egress { type ifname : verdict; }`,
    `add chain ${t} prerouting { type filter hook prerouting priority raw; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting iifname ${sb} meta nfproto ipv6 drop`,
    `add rule ${t} prerouting iifname ${sb} fib saddr . iif oif missing drop`,
    `flush chain ${t} input`,
    `add rule ${t} input iifname ${sb} ct state established,related accept`,
    `add rule ${t} input iifname ${sb} drop`,
    `flush chain ${t} forward`,
    `add rule ${t} forward iifname ${sb} iifname vmap @egress`,
    `add rule ${t} forward iifname ${sb} drop`,
    `add rule ${t} forward oifname ${sb} ct state established,related accept`,
    `add rule ${t} forward oifname ${sb} drop`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting iifname ${sb} oifname != ${sb} masquerade`,
  ];
}

function cidrSet(cidrs: readonly Ipv4Cidr[]): string {
  return `{ ${normalizeCidrs(cidrs).map(formatCidr).join(", ")} }`;
}

/**
 * Removes one sandbox's egress rules whether or not they exist: nft (before 1.0.8) has no
 * "delete if present", so each object is first added (a no-op when present; the values are
 * derived from the names, so they match) and then deleted.
 */
function removeStatements(c: FirewallConfig, e: FirewallEntry): string[] {
  const t = `inet ${c.table}`;
  return [
    `add chain ${t} ${e.chain}`,
    `add element ${t} egress { "${e.hostIf}" : jump ${e.chain} }`,
    `delete element ${t} egress { "${e.hostIf}" }`,
    `flush chain ${t} ${e.chain}`,
    `delete chain ${t} ${e.chain}`,
  ];
}

/** Nothing without internet access: the base chains already drop all of it. */
function addStatements(c: FirewallConfig, e: FirewallEntry, p: ResolvedPolicy): string[] {
  if (!p.allowInternet) return [];
  const t = `inet ${c.table}`;
  const ch = `${t} ${e.chain}`;
  const lines = [
    `add chain ${ch}`,
    // Never the host (that is input, dropped above), other sandboxes or the pool.
    `add rule ${ch} ip daddr ${cidrSet([c.pool, ...c.alwaysDenyOut])} drop`,
  ];
  if (p.denyOut.length > 0) {
    lines.push(`add rule ${ch} ip daddr ${cidrSet(p.denyOut.map(parseCidr))} drop`);
  }
  if (p.allowOut.length > 0) {
    lines.push(`add rule ${ch} ip daddr ${cidrSet(p.allowOut.map(parseCidr))} accept`);
  } else {
    lines.push(`add rule ${ch} accept`);
  }
  lines.push(`add rule ${ch} drop`, `add element ${t} egress { "${e.hostIf}" : jump ${e.chain} }`);
  return lines;
}

async function applyRuleset(script: readonly string[]): Promise<void> {
  await runCommand("nft", ["-f", "-"], `${script.join("\n")}\n`);
}

export interface FirewallHooks {
  /** The rules every sandbox should have now, for rebuilding a damaged table. */
  readonly entries: () => FirewallEntries;
  readonly onRebuild?: (why: string) => void;
}

/**
 * Our nftables table. Costs that shaped this: every nft run pays ~5 ms to start and load its
 * cache, and any transaction that deletes or redefines something (replaying the base chains
 * included) waits for an RCU grace period, 10-20 ms more. So the base is installed once per
 * manager, a sandbox without internet access needs no nft run at all, and a first egress
 * setup only adds; replacing, removing and repairing take the slower idempotent paths.
 */
export class Firewall {
  private baseInstalled = false;
  /** The base chains' rules as the kernel reported them right after we installed them. */
  private canonicalBase: string | undefined;

  constructor(
    readonly config: FirewallConfig,
    private readonly hooks: FirewallHooks,
  ) {}

  /**
   * Installs one sandbox's rules. `fresh`: the caller knows none exist yet (first setup), so
   * only additions run.
   */
  async install(e: FirewallEntry, p: ResolvedPolicy, fresh: boolean): Promise<void> {
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
      // The table is gone (a `nft flush ruleset`), or this sandbox's chain exists after all.
      // Either way nothing was applied: rebuild what every sandbox should have.
      this.hooks.onRebuild?.("egress rules could not be added");
      await this.rebuild(this.hooks.entries());
    }
  }

  /** Replaces one sandbox's rules in one transaction, re-asserting the base on the way. */
  async replace(e: FirewallEntry, p: ResolvedPolicy): Promise<void> {
    await applyRuleset([
      ...baseStatements(this.config),
      ...removeStatements(this.config, e),
      ...addStatements(this.config, e, p),
    ]);
    this.baseInstalled = true;
  }

  /**
   * Idempotent. Never creates the table: a teardown must not leave an empty table behind
   * that a later fast-path install would mistake for an intact one.
   */
  async remove(e: FirewallEntry): Promise<void> {
    try {
      await applyRuleset(removeStatements(this.config, e));
    } catch (err) {
      const live = await readFirewallState(this.config.table);
      if (!live.exists) return;
      // The table is there but damaged (its map is gone): rebuild it without this sandbox.
      this.hooks.onRebuild?.(`removal failed: ${(err as Error).message}`);
      await this.rebuild(this.hooks.entries().filter((x) => x.entry.hostIf !== e.hostIf));
    }
  }

  /** The whole table from scratch, in one transaction: whatever leaked is simply not in it. */
  async rebuild(entries: FirewallEntries): Promise<void> {
    const t = `inet ${this.config.table}`;
    await applyRuleset([
      `add table ${t}`,
      `delete table ${t}`,
      ...baseStatements(this.config),
      ...entries.flatMap(({ entry, policy }) => addStatements(this.config, entry, policy)),
    ]);
    this.baseInstalled = true;
    this.canonicalBase = (await readFirewallState(this.config.table)).baseRules;
  }

  /**
   * Compares the live table with what it should be (base chains as installed, one egress
   * chain per sandbox with internet access) and rebuilds it if they differ, e.g. after a
   * `nft flush ruleset` or a hand edit. Returns whether it was intact. Meant to run
   * periodically: without our table, sandboxes are not isolated.
   */
  async verify(): Promise<boolean> {
    const expected = this.hooks.entries().filter((x) => x.policy.allowInternet);
    const live = await readFirewallState(this.config.table);
    const why = !live.exists
      ? "table missing"
      : this.canonicalBase !== undefined && live.baseRules !== this.canonicalBase
        ? "base chains changed"
        : !sameMembers(
              live.egress,
              expected.map((x) => x.entry.hostIf),
            ) ||
            !sameMembers(
              live.chains,
              expected.map((x) => x.entry.chain),
            )
          ? "per-sandbox egress rules differ"
          : null;
    if (why === null) {
      // No reference for the base chains yet (they were installed by the fast or replace
      // path): reinstalling them is atomic and harmless, and gives one.
      if (this.canonicalBase === undefined) await this.rebuild(this.hooks.entries());
      return true;
    }
    this.hooks.onRebuild?.(why);
    await this.rebuild(this.hooks.entries());
    return false;
  }

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

export async function deleteTable(table: string): Promise<void> {
  await applyRuleset([`add table inet ${table}`, `delete table inet ${table}`]);
}

/** What our table holds now, for verify, reconcile's report and tests. */
export interface FirewallState {
  readonly exists: boolean;
  /** Host interfaces with an egress verdict (sandboxes with internet access). */
  readonly egress: string[];
  /** Per-sandbox (regular) chains. */
  readonly chains: string[];
  /** The base chains' rules, serialised without handles: comparable between listings. */
  readonly baseRules: string;
}

interface NftItem {
  chain?: { name: string; hook?: string };
  map?: { name: string; elem?: unknown[] };
  rule?: { chain: string; expr: unknown };
}

export async function readFirewallState(table: string): Promise<FirewallState> {
  let out: string;
  try {
    out = (await runCommand("nft", ["-j", "list", "table", "inet", table])).stdout;
  } catch {
    return { exists: false, egress: [], chains: [], baseRules: "" };
  }
  const items = (JSON.parse(out) as { nftables: NftItem[] }).nftables;
  const egress: string[] = [];
  const chains: string[] = [];
  const base: unknown[] = [];
  for (const item of items) {
    if (item.chain && !item.chain.hook) chains.push(item.chain.name);
    if (item.map?.name === "egress") {
      for (const el of item.map.elem ?? []) if (Array.isArray(el)) egress.push(String(el[0]));
    }
    if (item.rule && BASE_CHAINS.includes(item.rule.chain)) {
      base.push([item.rule.chain, item.rule.expr]);
    }
  }
  return { exists: true, egress, chains, baseRules: JSON.stringify(base) };
}
