import { mkdir, readFile, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { egressAllows } from "@wrenn/contract";
import { AllocationStore, type SlotRecord } from "./allocation-store.js";
import { runCommand } from "./command.js";
import { cutForbiddenFlows, forgetFlows } from "./conntrack-flush.js";
import { invalidArgument, NetworkError } from "./errors.js";
import {
  assertTableName,
  Firewall,
  type FirewallEntry,
  guardTableOf,
  readFirewallState,
} from "./firewall.js";
import { ForwardingSwitch } from "./forwarding.js";
import type { NetworkClaim } from "./host-claims.js";
import { cidrSize, formatCidr, formatIpv4, type Ipv4Cidr, parseCidr, parseIpv4 } from "./ipv4.js";
import { LockTable } from "./lock-table.js";
import { defaultLogger, type NetworkLogger } from "./logger.js";
import {
  assertNamePrefix,
  assertSandboxId,
  keyFromChain,
  keyFromHostIf,
  keyOf,
  namesFor,
  type SandboxNames,
  sandboxIdFromNetns,
} from "./naming.js";
import {
  createLinks,
  GUEST_IF,
  isAlreadyExists,
  type LinkAddresses,
  linksExist,
  listNetns,
  listRootLinks,
  netnsExists,
  removeLinks,
  restoreGuestAddress,
} from "./netlink.js";
import {
  ALWAYS_DENIED_OUT,
  DENY_ALL,
  hasEgress,
  type NetworkPolicy,
  type ResolvedPolicy,
  resolvePolicy,
} from "./policy.js";

export interface NetworkManagerOptions {
  /** IPv4 pool carved into one /30 per sandbox. Default 10.200.0.0/16 (16384 sandboxes). */
  readonly pool?: string;
  /** Start of every netns and host interface name, at most 7 characters. Default "wrenn-". */
  readonly namePrefix?: string;
  /** Where allocations persist across agent restarts. Default /var/lib/wrenn/network. */
  readonly stateDir?: string;
  /** Our nftables table (family inet). Default "wrenn". */
  readonly table?: string;
  /** Never reachable from a sandbox, whatever its policy. Default: ALWAYS_DENIED_OUT. */
  readonly alwaysDenyOut?: readonly string[];
  /** Ranges an admin opened inside alwaysDenyOut for sandboxes with internet access. */
  readonly egressAllow?: readonly string[];
  /** Name servers sandboxes are given: port 53 on them stays open inside alwaysDenyOut. */
  readonly dnsServers?: readonly string[];
  /** MTU of both ends of each veth; default the kernel's (1500). */
  readonly mtu?: number;
  /** Host-wide reference count of IPv4 forwarding users. Default /run/wrenn/ip-forward. */
  readonly forwardingStateDir?: string;
  readonly logger?: NetworkLogger;
}

/** Everything the runtime needs to know about one sandbox's network. */
export interface SandboxNetwork {
  readonly sandboxId: string;
  readonly netns: string;
  /** Goes into the OCI spec: linux.namespaces[{ type: "network", path }]. */
  readonly netnsPath: string;
  readonly hostIf: string;
  readonly guestIf: typeof GUEST_IF;
  readonly hostIp: string;
  readonly guestIp: string;
  readonly prefixLen: 30;
  /** The host side, which is also the sandbox's default route. */
  readonly gateway: string;
}

export interface ReconcileReport {
  /** Known sandboxes whose allocation was kept. */
  readonly kept: string[];
  /** Known sandboxes whose allocation was rebuilt from the live interface's address. */
  readonly adopted: string[];
  /** Known sandboxes that have an allocation but no namespace (setup never finished). */
  readonly incomplete: string[];
  /** Unknown sandboxes whose leftovers (any of netns, veth, rules, allocation) were removed. */
  readonly removed: string[];
}

const PREFIX_LEN = 30;
const SLOT_SIZE = 4;

export class NetworkManager {
  readonly pool: string;
  private readonly poolCidr: Ipv4Cidr;
  private readonly prefix: string;
  private readonly stateDir: string;
  private readonly mtu: number | undefined;
  private readonly firewall: Firewall;
  private readonly store: AllocationStore;
  private readonly forwarding: ForwardingSwitch;
  private readonly locks = new LockTable();
  private readonly log: NetworkLogger;
  private ready: Promise<void> | undefined;

  constructor(options: NetworkManagerOptions = {}) {
    this.poolCidr = parseCidr(options.pool ?? "10.200.0.0/16");
    if (this.poolCidr.prefixLen < 8 || this.poolCidr.prefixLen > PREFIX_LEN) {
      throw invalidArgument(`pool ${options.pool} must be between a /8 and a /30`);
    }
    this.pool = formatCidr(this.poolCidr);
    this.prefix = options.namePrefix ?? "wrenn-";
    assertNamePrefix(this.prefix);
    const table = options.table ?? "wrenn";
    assertTableName(table);
    if (options.mtu !== undefined && !(Number.isInteger(options.mtu) && options.mtu >= 576)) {
      throw invalidArgument(`invalid mtu ${options.mtu}`);
    }
    this.mtu = options.mtu;
    this.stateDir = options.stateDir ?? "/var/lib/wrenn/network";
    if (!isAbsolute(this.stateDir)) {
      throw invalidArgument(`stateDir must be an absolute path: ${this.stateDir}`);
    }
    this.log = options.logger ?? defaultLogger();
    this.firewall = new Firewall(
      {
        table,
        ifPrefix: this.prefix,
        pool: this.poolCidr,
        alwaysDenyOut: (options.alwaysDenyOut ?? ALWAYS_DENIED_OUT).map(parseCidr),
        egressAllow: (options.egressAllow ?? []).map(parseCidr),
        dnsServers: (options.dnsServers ?? []).map((ip) => formatIpv4(parseIpv4(ip))),
      },
      {
        entries: () =>
          this.store.list().map((r) => ({ entry: this.entry(r), policy: this.storedPolicy(r) })),
        onRebuild: (why) => this.log.warn({ table, why }, "rebuilding the firewall table"),
      },
    );
    this.store = new AllocationStore(this.stateDir, cidrSize(this.poolCidr) / SLOT_SIZE);
    this.forwarding = new ForwardingSwitch(
      options.forwardingStateDir ?? "/run/wrenn/ip-forward",
      table,
    );
  }

  /** Reserves a /30 (idempotent: the same sandbox always gets its existing one). */
  async allocate(sandboxId: string): Promise<SandboxNetwork> {
    assertSandboxId(sandboxId);
    await this.init();
    return this.locks.withKey(sandboxId, async () => this.describe(await this.claim(sandboxId)));
  }

  /** The sandbox's network if it has an allocation. */
  async get(sandboxId: string): Promise<SandboxNetwork | undefined> {
    assertSandboxId(sandboxId);
    await this.init();
    const record = this.store.get(sandboxId);
    return record && this.describe(record);
  }

  async list(): Promise<SandboxNetwork[]> {
    await this.init();
    return this.store.list().map((r) => this.describe(r));
  }

  /**
   * Creates the namespace, the veth pair, addresses, routes and firewall rules (allocating
   * first if needed), and returns what the runtime needs. Idempotent: on a sandbox whose
   * network is complete it only applies a changed policy and leaves the links alone (a
   * running sandbox keeps its network). Leftovers of an interrupted setup are replaced. The
   * policy is validated before anything is touched.
   */
  async setup(sandboxId: string, policy?: NetworkPolicy): Promise<SandboxNetwork> {
    assertSandboxId(sandboxId);
    const resolved = resolvePolicy(policy);
    await this.init();
    return this.locks.withKey(sandboxId, async () => {
      const started = performance.now();
      const record = await this.claim(sandboxId);
      const names = namesFor(this.prefix, sandboxId);
      if (record.ready && (await linksExist(names))) {
        await this.applyPolicy(record, resolved);
        return this.describe(record);
      }
      // A record that already carries a policy has been through setup: its rules may exist.
      const fresh = record.policy === undefined;
      await this.store.update({ sandboxId, index: record.index, policy: resolved });
      const addrs = this.addresses(record);
      try {
        // Independent of each other, so concurrent: the rules match by interface name and
        // need not wait for the link; forwarding is harmless before the link exists.
        await Promise.all([
          this.firewall.install(this.entry(record), resolved, fresh),
          this.createLinksFresh(names, addrs),
          hasEgress(resolved) ||
          (record.policy !== undefined && hasEgress(this.storedPolicy(record)))
            ? this.syncForwarding()
            : undefined,
        ]);
      } catch (err) {
        await removeLinks(names).catch(() => {});
        this.log.error({ sandboxId, err }, "network setup failed");
        throw err;
      }
      await this.store.update({ sandboxId, index: record.index, policy: resolved, ready: true });
      this.log.debug(
        { sandboxId, guestIp: addrs.guestIp, ms: +(performance.now() - started).toFixed(1) },
        "network set up",
      );
      return this.describe(record);
    });
  }

  /** Replaces a sandbox's egress policy in place, atomically. */
  async setPolicy(sandboxId: string, policy: NetworkPolicy): Promise<void> {
    assertSandboxId(sandboxId);
    const resolved = resolvePolicy(policy);
    await this.init();
    await this.locks.withKey(sandboxId, () =>
      this.applyPolicy(this.requireRecord(sandboxId), resolved, true),
    );
  }

  private async applyPolicy(record: SlotRecord, policy: ResolvedPolicy, force = false) {
    const unchanged = JSON.stringify(record.policy) === JSON.stringify(policy);
    if (!unchanged || force) {
      // The intent is persisted first: if the rules fail to apply, verify and reconcile
      // converge on it.
      await this.store.update({ ...record, policy });
      await this.firewall.replace(this.entry(record), policy);
      if (!unchanged) {
        const cut = await cutForbiddenFlows(
          this.addresses(record).guestIp,
          (destination) => egressAllows(policy, destination),
          (m) => this.log.warn({}, m),
        );
        if (cut.length > 0) {
          this.log.debug({ sandboxId: record.sandboxId, cut }, "cut flows the new policy forbids");
        }
      }
    }
    await this.syncForwarding();
  }

  /**
   * Puts eth0's address and default route back inside the namespace. runsc strips the
   * address when its netstack takes eth0 over; call this after `runsc delete` and before a
   * `runsc restore` into the same namespace. Idempotent.
   */
  async restoreAddress(sandboxId: string): Promise<void> {
    assertSandboxId(sandboxId);
    await this.init();
    await this.locks.withKey(sandboxId, async () => {
      const record = this.requireRecord(sandboxId);
      const names = namesFor(this.prefix, sandboxId);
      if (!(await netnsExists(names))) {
        throw new NetworkError("not_allocated", `${sandboxId} has no network namespace`);
      }
      await restoreGuestAddress(names, this.addresses(record));
    });
  }

  /**
   * Checks that our nftables table is what it should be and rebuilds it if not (a `nft flush
   * ruleset`, a firewall reload, a hand edit). Without the table sandboxes are not isolated,
   * so the agent should call this periodically (every few seconds; one `nft -j list` each).
   * Returns whether the table was intact.
   */
  async verifyFirewall(): Promise<boolean> {
    await this.init();
    return this.locks.withAll(() => this.firewall.verify());
  }

  /** Removes rules, veth, namespace and allocation. Idempotent, fine on a half-built sandbox. */
  async teardown(sandboxId: string): Promise<void> {
    assertSandboxId(sandboxId);
    await this.init();
    await this.locks.withKey(sandboxId, () => this.teardownLocked(sandboxId));
  }

  /**
   * At agent start: removes every namespace, veth, rule and allocation of ours that belongs
   * to none of the known sandboxes (leaked by a crash), keeps the others, and rebuilds our
   * nftables table from the kept allocations in one transaction. Call before serving.
   */
  async reconcile(knownSandboxIds: Iterable<string>): Promise<ReconcileReport> {
    const known = new Set<string>();
    for (const id of knownSandboxIds) {
      assertSandboxId(id);
      known.add(id);
    }
    await this.init();
    const knownKeys = new Map<string, string>();
    for (const id of known) {
      const other = knownKeys.get(keyOf(id));
      if (other)
        throw invalidArgument(`known sandboxes ${other} and ${id} share their 8 hex digits`);
      knownKeys.set(keyOf(id), id);
    }
    return this.locks.withAll(async () => {
      await this.store.load();
      const [netnsNames, linkNames, fw] = await Promise.all([
        listNetns(),
        listRootLinks(),
        readFirewallState(this.firewall.config.table),
      ]);
      // Leaks are found by what is ours by name, and matched to sandboxes by key (the 8 hex
      // digits), since interface and chain names carry only the key.
      const liveNetns = new Set(
        netnsNames.map((n) => sandboxIdFromNetns(this.prefix, n)).filter((id) => id !== null),
      );
      const liveLinkKeys = new Set(
        linkNames.map((n) => keyFromHostIf(this.prefix, n)).filter((k) => k !== null),
      );
      const leakedIds = new Set([
        ...this.store
          .list()
          .map((r) => r.sandboxId)
          .filter((id) => !known.has(id)),
        ...[...liveNetns].filter((id) => !known.has(id)),
      ]);
      // A link is another sandbox's while its key is known, even if the id differs.
      const leakedLinkKeys = [...liveLinkKeys].filter((k) => !knownKeys.has(k));
      await inBatches([...leakedIds], 8, async (id) => {
        const names = namesFor(this.prefix, id);
        const key = keyOf(id);
        await removeLinks(knownKeys.has(key) ? { netns: names.netns } : names);
        await this.store.release(id);
      });
      await inBatches(leakedLinkKeys, 8, (key) => removeLinks({ hostIf: `${this.prefix}${key}` }));
      await this.store.dropUnreadable();
      // Leaked rules need no step of their own: the rebuild below leaves them out.
      const leakedKeys = new Set([...leakedIds].map(keyOf));
      const removed = [
        ...leakedIds,
        ...[
          ...leakedLinkKeys.map((k) => [k, `${this.prefix}${k}`] as const),
          ...fw.egress.map((i) => [keyFromHostIf(this.prefix, i), i] as const),
          ...fw.chains.map((c) => [keyFromChain(c), c] as const),
        ]
          .filter(([k]) => k !== null && !knownKeys.has(k) && !leakedKeys.has(k))
          .map(([, label]) => label),
      ];
      const uniqueRemoved = [...new Set(removed)].sort();

      const adopted: string[] = [];
      for (const id of known) {
        if (this.store.get(id) || !liveLinkKeys.has(keyOf(id))) continue;
        if (await this.adopt(id)) adopted.push(id);
        else this.log.warn({ sandboxId: id }, "known sandbox has a veth but no usable address");
      }
      const records = this.store.list();
      await this.firewall.rebuild(
        records.map((r) => ({ entry: this.entry(r), policy: this.storedPolicy(r) })),
      );
      await this.syncForwarding(true);

      const report: ReconcileReport = {
        kept: records.map((r) => r.sandboxId).sort(),
        adopted,
        incomplete: records
          .filter((r) => !liveNetns.has(r.sandboxId))
          .map((r) => r.sandboxId)
          .sort(),
        removed: uniqueRemoved,
      };
      this.log.info(
        {
          kept: report.kept.length,
          adopted,
          incomplete: report.incomplete,
          removed: uniqueRemoved,
        },
        "network reconciled",
      );
      return report;
    });
  }

  /** The host-wide pool, name prefix and tables this manager owns (see host-claims.ts). */
  get hostClaim(): NetworkClaim {
    const table = this.firewall.config.table;
    return { pool: this.pool, prefix: this.prefix, tables: [table, guardTableOf(table)] };
  }

  /**
   * For a clean stop: when no sandbox of this manager has a network any more, removes both
   * tables and lets go of IPv4 forwarding, leaving nothing behind. While any is left the rules
   * stay: sandboxes outlive the agent and must stay isolated until it returns. Returns whether
   * it removed them.
   */
  async closeIfUnused(): Promise<boolean> {
    await this.init();
    return this.locks.withAll(async () => {
      await this.store.load();
      if (this.store.list().length > 0 || this.store.unreadableSlots().length > 0) return false;
      await this.firewall.deleteTable();
      await this.syncForwarding(true);
      return true;
    });
  }

  /**
   * Removes every sandbox network of this manager and the table itself, and lets go of IPv4
   * forwarding: for uninstalling, and for tests cleaning up after themselves.
   */
  async removeAll(): Promise<void> {
    await this.reconcile([]);
    await this.locks.withAll(() => this.firewall.deleteTable());
  }

  /** Interface and chain names carry only the key: one key, one sandbox. */
  private assertKeyFree(sandboxId: string): void {
    const key = keyOf(sandboxId);
    const other = this.store.list().find((r) => keyOf(r.sandboxId) === key);
    if (other && other.sandboxId !== sandboxId) {
      throw invalidArgument(
        `sandbox id ${sandboxId} shares its 8 hex digits with ${other.sandboxId}, which has a network`,
      );
    }
  }

  private async teardownLocked(sandboxId: string): Promise<void> {
    // Never touch the interface of another sandbox that happens to share the key.
    this.assertKeyFree(sandboxId);
    const record = this.store.get(sandboxId);
    const names = namesFor(this.prefix, sandboxId);
    // Rules are removed whatever the record says (they are keyed on names alone): a record
    // can lag behind the rules after a crash halfway through a policy change.
    await Promise.all([
      removeLinks(names),
      this.firewall.remove({ hostIf: names.hostIf, chain: names.chain }),
    ]);
    if (record) {
      await forgetFlows(this.addresses(record).guestIp, (m) => this.log.warn({}, m));
    }
    // Released last: until here a crash leaves the slot claimed, and a retry or reconcile
    // finds everything that still needs removing.
    await this.store.release(sandboxId);
    if (!record || hasEgress(this.storedPolicy(record))) await this.syncForwarding();
    this.log.debug({ sandboxId }, "network torn down");
  }

  /** IPv4 forwarding is held exactly while some sandbox of ours has internet access. */
  private syncForwarding(force = false): Promise<void> {
    return this.forwarding.sync(
      () => this.store.list().some((r) => hasEgress(this.storedPolicy(r))),
      { force },
    );
  }

  /**
   * A known sandbox with a live veth but no allocation record (state dir lost): derive its
   * slot from the host side's address, so it keeps its address and gets its rules back.
   * Its policy is unknown, so it gets none (no egress) until setPolicy.
   */
  private async adopt(sandboxId: string): Promise<boolean> {
    const names = namesFor(this.prefix, sandboxId);
    let out: string;
    try {
      out = (await runCommand("ip", ["-j", "-4", "addr", "show", "dev", names.hostIf])).stdout;
    } catch {
      return false;
    }
    const parsed = JSON.parse(out) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    const local = parsed[0]?.addr_info?.find((a) => a.prefixlen === PREFIX_LEN)?.local;
    if (!local) return false;
    const offset = parseIpv4(local) - this.poolCidr.base - 1;
    if (offset < 0 || offset % SLOT_SIZE !== 0) return false;
    const record = await this.store.claimIndex(sandboxId, offset / SLOT_SIZE);
    if (record) this.log.warn({ sandboxId, hostIp: local }, "adopted network without a record");
    return record !== null;
  }

  private async claim(sandboxId: string): Promise<SlotRecord> {
    const existing = this.store.get(sandboxId);
    if (existing) return existing;
    this.assertKeyFree(sandboxId);
    const record = await this.store.claim(sandboxId);
    this.log.debug({ sandboxId, slot: record.index }, "address allocated");
    return record;
  }

  private async createLinksFresh(names: SandboxNames, addrs: LinkAddresses): Promise<void> {
    try {
      await createLinks(names, addrs);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Leftovers of an interrupted setup (or a setup called twice): start over, once.
      this.log.warn({ netns: names.netns }, "replacing leftover network of an earlier setup");
      await removeLinks(names);
      await createLinks(names, addrs);
    }
  }

  private requireRecord(sandboxId: string): SlotRecord {
    const record = this.store.get(sandboxId);
    if (!record) throw new NetworkError("not_allocated", `${sandboxId} has no network`);
    return record;
  }

  /** Policies on disk were written by us, but a damaged file must not widen access. */
  private storedPolicy(record: SlotRecord): ResolvedPolicy {
    if (!record.policy) return DENY_ALL;
    try {
      return resolvePolicy(record.policy);
    } catch (err) {
      this.log.warn({ sandboxId: record.sandboxId, err }, "stored policy invalid; denying all");
      return DENY_ALL;
    }
  }

  private addresses(record: SlotRecord): LinkAddresses {
    const base = this.poolCidr.base + record.index * SLOT_SIZE;
    const a = {
      hostIp: formatIpv4(base + 1),
      guestIp: formatIpv4(base + 2),
      prefixLen: PREFIX_LEN,
    };
    return this.mtu === undefined ? a : { ...a, mtu: this.mtu };
  }

  private entry(record: SlotRecord): FirewallEntry {
    const names = namesFor(this.prefix, record.sandboxId);
    return { hostIf: names.hostIf, chain: names.chain };
  }

  private describe(record: SlotRecord): SandboxNetwork {
    const names = namesFor(this.prefix, record.sandboxId);
    const { hostIp, guestIp } = this.addresses(record);
    return {
      sandboxId: record.sandboxId,
      netns: names.netns,
      netnsPath: names.netnsPath,
      hostIf: names.hostIf,
      guestIf: GUEST_IF,
      hostIp,
      guestIp,
      prefixLen: PREFIX_LEN,
      gateway: hostIp,
    };
  }

  private init(): Promise<void> {
    this.ready ??= this.load().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /**
   * Slots are stored by index, so the same index under another pool is another address:
   * refuse to start rather than hand out addresses that do not match live interfaces.
   */
  private async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await this.store.load();
    const poolFile = join(this.stateDir, "pool");
    const stored = await readFile(poolFile, "utf8").then(
      (s) => s.trim(),
      () => null,
    );
    if (stored !== this.pool) {
      const live = this.store.list().length + this.store.unreadableSlots().length;
      if (stored !== null && live > 0) {
        throw invalidArgument(
          `address pool changed from ${stored} to ${this.pool} while ${live} allocations ` +
            `exist in ${this.stateDir}; tear those sandboxes down or restore the old pool`,
        );
      }
      await writeFile(poolFile, `${this.pool}\n`);
    }
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}
