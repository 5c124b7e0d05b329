import { mkdir } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { KeyedLock } from "../locks/keyed-lock.js";
import type { RuntimeId } from "../runtime/driver.js";
import { AllocationStore, type SlotRecord } from "./allocation-store.js";
import { type BackstopSlot, Backstops } from "./backstop.js";
import { forgetFlows } from "./conntrack-flush.js";
import type { EgressProxy } from "./egress/egress-proxy.js";
import { invalidArgument, NetworkError } from "./errors.js";
import { assertTableName, Firewall, guardTableOf } from "./firewall.js";
import { ForwardingSwitch } from "./forwarding.js";
import { HeldSecrets } from "./held-secrets.js";
import type { NetworkClaim } from "./host-claims.js";
import { cidrSize, formatCidr, formatIpv4, type Ipv4Cidr, parseCidr, parseIpv4 } from "./ipv4.js";
import { defaultLogger, type NetworkLogger } from "./logger.js";
import { assertNamePrefix, assertSandboxId, keyOf, namesFor, type SandboxNames } from "./naming.js";
import {
  createLinks,
  isAlreadyExists,
  type LinkAddresses,
  linksExist,
  netnsExists,
  removeLinks,
  restoreGuestAddress,
} from "./netlink.js";
import { type ReconcileReport, reconcileNetworks } from "./network-reconcile.js";
import {
  ALWAYS_DENIED_OUT,
  DENY_ALL,
  hasDomainRules,
  hasEgress,
  type NetworkPolicy,
  type NetworkPolicyRequest,
  resolvePolicy,
} from "./policy.js";
import { applyPolicyChange, type PolicyChangeDeps } from "./policy-change.js";
import { claimFreeSlot } from "./slot-claim.js";
import { PREFIX_LEN, type SandboxNetwork, SLOT_SIZE, SlotLayout } from "./slot-layout.js";

// The manager keeps the per-sandbox operations (setup, policy, teardown) and the locks;
// the start-of-agent sweep lives in network-reconcile.ts and slot arithmetic in
// slot-layout.ts. Their types are re-exported here so callers keep one import.
export type { ReconcileReport, SandboxNetwork };

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
  /**
   * The agent's egress proxy (EgressProxy.start): enforces allowOut's host names. Without it a
   * policy with host names is refused.
   */
  readonly egressProxy?: EgressProxy;
  /** MTU of both ends of each veth; default the kernel's (1500). */
  readonly mtu?: number;
  /** Host-wide reference count of IPv4 forwarding users. Default /run/wrenn/ip-forward. */
  readonly forwardingStateDir?: string;
  readonly logger?: NetworkLogger;
}

/**
 * Each sandbox's network namespace, veth pair, /30 and rules, keyed by its runtime id (the
 * agent passes wr-…; any id of 2-3 lowercase letters, "-" and 8 hex digits works).
 */
export class NetworkManager {
  readonly pool: string;
  private readonly poolCidr: Ipv4Cidr;
  private readonly prefix: string;
  private readonly stateDir: string;
  private readonly layout: SlotLayout;
  private readonly firewall: Firewall;
  private readonly backstops: Backstops;
  private readonly store: AllocationStore;
  private readonly forwarding: ForwardingSwitch;
  private readonly locks = new KeyedLock();
  private readonly log: NetworkLogger;
  private readonly proxy: EgressProxy | undefined;
  /** Header rules and proxy credentials by sandbox: never persisted (see HeldSecrets). */
  private readonly held = new HeldSecrets();
  private ready: Promise<void> | undefined;
  /** What the policy change and the reconcile sweep (their own files) use of this manager. */
  private readonly parts: PolicyChangeDeps;

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
    this.layout = new SlotLayout(this.poolCidr, this.prefix, options.mtu);
    this.stateDir = options.stateDir ?? "/var/lib/wrenn/network";
    if (!isAbsolute(this.stateDir)) {
      throw invalidArgument(`stateDir must be an absolute path: ${this.stateDir}`);
    }
    this.log = options.logger ?? defaultLogger();
    this.proxy = options.egressProxy;
    const alwaysDenyOut = (options.alwaysDenyOut ?? ALWAYS_DENIED_OUT).map(parseCidr);
    const egressAllow = (options.egressAllow ?? []).map(parseCidr);
    this.firewall = new Firewall(
      {
        table,
        ifPrefix: this.prefix,
        pool: this.poolCidr,
        alwaysDenyOut,
        egressAllow,
        dnsServers: (options.dnsServers ?? []).map((ip) => formatIpv4(parseIpv4(ip))),
        ...(this.proxy ? { proxy: this.proxy.ports } : {}),
      },
      {
        entries: () =>
          this.store
            .list()
            .map((r) => ({ entry: this.layout.entry(r), policy: this.storedPolicy(r) })),
        onRebuild: (why) => this.log.warn({ table, why }, "rebuilding the firewall table"),
      },
    );
    this.backstops = new Backstops(this.firewall.config, this.log);
    this.store = new AllocationStore(this.stateDir, cidrSize(this.poolCidr) / SLOT_SIZE);
    this.forwarding = new ForwardingSwitch(
      options.forwardingStateDir ?? "/run/wrenn/ip-forward",
      table,
    );
    this.proxy?.bind({
      client: (address) => this.proxyClient(address),
      denied: { pool: this.poolCidr, alwaysDenyOut, egressAllow },
    });
    this.parts = {
      layout: this.layout,
      store: this.store,
      firewall: this.firewall,
      backstops: this.backstops,
      log: this.log,
      proxy: this.proxy,
      storedPolicy: (r) => this.storedPolicy(r),
      syncForwarding: (force) => this.syncForwarding(force),
    };
  }

  /** The sandbox a guest address belongs to, with its policy, for the egress proxy. */
  private proxyClient(address: string): { sandboxId: string; policy: NetworkPolicy } | undefined {
    let ip: number;
    try {
      ip = parseIpv4(address);
    } catch {
      return undefined;
    }
    const offset = ip - this.poolCidr.base - 2;
    if (offset < 0 || offset % SLOT_SIZE !== 0) return undefined;
    const record = this.store.list().find((r) => r.index === offset / SLOT_SIZE);
    return record?.ready
      ? { sandboxId: record.sandboxId, policy: this.withHeldSecrets(record) }
      : undefined;
  }

  /** The stored policy with the secret parts held in memory for the sandbox. */
  private withHeldSecrets(record: SlotRecord): NetworkPolicy {
    return this.held.merge(record.sandboxId, this.storedPolicy(record));
  }

  /** The sandbox's CA for header rules (see EgressProxy.sandboxCa). */
  async egressCa(runtimeId: RuntimeId): Promise<string | undefined> {
    if (!this.proxy) return undefined;
    await this.init();
    const record = this.requireRecord(runtimeId);
    return this.proxy.sandboxCa(this.layout.addresses(record).guestIp, record.sandboxId);
  }

  /** Host names in allowOut need the egress proxy; without one they could not be enforced. */
  private resolve(policy: NetworkPolicyRequest | undefined): NetworkPolicy {
    const resolved = resolvePolicy(policy);
    if (!this.proxy && hasDomainRules(resolved)) {
      throw invalidArgument("host names in allowOut need the agent's egress proxy, which is off");
    }
    if (!this.proxy && resolved.egressProxy) {
      throw invalidArgument("egressProxy needs the agent's egress proxy, which is off");
    }
    return resolved;
  }

  /** Reserves a /30 (idempotent: the same sandbox always gets its existing one). */
  async allocate(runtimeId: RuntimeId): Promise<SandboxNetwork> {
    assertSandboxId(runtimeId);
    await this.init();
    return this.locks.run(runtimeId, async () => this.layout.describe(await this.claim(runtimeId)));
  }

  /** The sandbox's network if it has an allocation. */
  async get(runtimeId: RuntimeId): Promise<SandboxNetwork | undefined> {
    assertSandboxId(runtimeId);
    await this.init();
    const record = this.store.get(runtimeId);
    return record && this.layout.describe(record);
  }

  async list(): Promise<SandboxNetwork[]> {
    await this.init();
    return this.store.list().map((r) => this.layout.describe(r));
  }

  /**
   * Creates the namespace, the veth pair, addresses, routes and firewall rules (allocating
   * first if needed), and returns what the runtime needs. Idempotent: on a sandbox whose
   * network is complete it only applies a changed policy and leaves the links alone (a
   * running sandbox keeps its network). Leftovers of an interrupted setup are replaced. The
   * policy is validated before anything is touched.
   */
  async setup(runtimeId: RuntimeId, policy?: NetworkPolicyRequest): Promise<SandboxNetwork> {
    assertSandboxId(runtimeId);
    const full = this.resolve(policy);
    await this.init();
    return this.locks.run(runtimeId, async () => {
      const resolved = this.held.keep(runtimeId, full);
      const started = performance.now();
      const record = await this.claim(runtimeId);
      const names = namesFor(this.prefix, runtimeId);
      if (record.ready && (await linksExist(names))) {
        await this.applyPolicy(record, resolved);
        return this.layout.describe(record);
      }
      // A record that already carries a policy has been through setup: its rules may exist.
      const fresh = record.policy === undefined;
      await this.store.update({ sandboxId: runtimeId, index: record.index, policy: resolved });
      const addrs = this.layout.addresses(record);
      try {
        // Independent of each other, so concurrent: the rules match by interface name and
        // need not wait for the link; forwarding is harmless before the link exists.
        await Promise.all([
          this.firewall.install(this.layout.entry(record), resolved, fresh),
          // The backstop needs eth0 (its chain hooks the device): right after the links, and
          // before setup returns, so no runsc ever starts in a namespace without it.
          this.createLinksFresh(names, addrs).then(() =>
            this.backstops.install({ ...this.layout.describe(record), policy: resolved }),
          ),
          hasEgress(resolved) ||
          (record.policy !== undefined && hasEgress(this.storedPolicy(record)))
            ? this.syncForwarding()
            : undefined,
        ]);
      } catch (err) {
        await removeLinks(names).catch(() => {});
        this.log.error({ runtimeId, err }, "network setup failed");
        throw err;
      }
      await this.store.update({
        sandboxId: runtimeId,
        index: record.index,
        policy: resolved,
        ready: true,
      });
      this.log.debug(
        { runtimeId, guestIp: addrs.guestIp, ms: +(performance.now() - started).toFixed(1) },
        "network set up",
      );
      return this.layout.describe(record);
    });
  }

  /** Replaces a sandbox's egress policy in place, atomically. */
  async setPolicy(runtimeId: RuntimeId, policy: NetworkPolicyRequest): Promise<void> {
    assertSandboxId(runtimeId);
    const full = this.resolve(policy);
    await this.init();
    await this.locks.run(runtimeId, () => {
      const record = this.requireRecord(runtimeId);
      return this.applyPolicy(record, this.held.keep(runtimeId, full), true);
    });
  }

  private applyPolicy(record: SlotRecord, policy: NetworkPolicy, force = false): Promise<void> {
    return applyPolicyChange(this.parts, record, policy, force);
  }

  /**
   * Puts eth0's address and default route back inside the namespace. runsc strips the
   * address when its netstack takes eth0 over; call this after `runsc delete` and before a
   * `runsc restore` into the same namespace. Idempotent.
   */
  async restoreAddress(runtimeId: RuntimeId): Promise<void> {
    assertSandboxId(runtimeId);
    await this.init();
    await this.locks.run(runtimeId, async () => {
      const record = this.requireRecord(runtimeId);
      const names = namesFor(this.prefix, runtimeId);
      if (!(await netnsExists(names))) {
        throw new NetworkError("not_allocated", `${runtimeId} has no network namespace`);
      }
      await restoreGuestAddress(names, this.layout.addresses(record));
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
    return this.locks.runExclusive(async () => {
      const intact = await this.firewall.verify();
      // A new host address (a DHCP lease, an interface coming up) must reach every backstop.
      // Its failure is logged apart: the root tables' verdict above stands either way.
      try {
        const n = await this.backstops.refresh(this.backstopSlots());
        if (n > 0) this.log.warn({ sandboxes: n }, "rewrote sandbox backstops");
      } catch (err) {
        this.log.error(
          { err: (err as Error).message },
          "some sandbox backstops could not be written",
        );
      }
      return intact;
    });
  }

  /** Every sandbox's backstop as it should be (see Backstops). */
  private backstopSlots(): BackstopSlot[] {
    return this.store
      .list()
      .map((r) => ({ ...this.layout.describe(r), policy: this.storedPolicy(r) }));
  }

  /** Removes rules, veth, namespace and allocation. Idempotent, fine on a half-built sandbox. */
  async teardown(runtimeId: RuntimeId): Promise<void> {
    assertSandboxId(runtimeId);
    await this.init();
    await this.locks.run(runtimeId, () => this.teardownLocked(runtimeId));
  }

  /**
   * At agent start: removes every namespace, veth, rule and allocation of ours that belongs
   * to none of the known sandboxes (leaked by a crash), keeps the others, and rebuilds our
   * nftables table from the kept allocations in one transaction. Call before serving.
   */
  async reconcile(knownRuntimeIds: Iterable<RuntimeId>): Promise<ReconcileReport> {
    const known = new Set<string>();
    for (const id of knownRuntimeIds) {
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
    return this.locks.runExclusive(() => reconcileNetworks(this.parts, known, knownKeys));
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
    return this.locks.runExclusive(async () => {
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
    await this.locks.runExclusive(() => this.firewall.deleteTable());
  }

  /** Interface and chain names carry only the key: one key, one sandbox. */
  private assertKeyFree(runtimeId: RuntimeId): void {
    const key = keyOf(runtimeId);
    const other = this.store.list().find((r) => keyOf(r.sandboxId) === key);
    if (other && other.sandboxId !== runtimeId) {
      throw invalidArgument(
        `sandbox id ${runtimeId} shares its 8 hex digits with ${other.sandboxId}, which has a network`,
      );
    }
  }

  private async teardownLocked(runtimeId: RuntimeId): Promise<void> {
    // Never touch the interface of another sandbox that happens to share the key.
    this.assertKeyFree(runtimeId);
    const record = this.store.get(runtimeId);
    const names = namesFor(this.prefix, runtimeId);
    // Rules are removed whatever the record says (they are keyed on names alone): a record
    // can lag behind the rules after a crash halfway through a policy change.
    await Promise.all([
      removeLinks(names),
      this.firewall.remove({
        hostIf: names.hostIf,
        chain: names.chain,
        steerChain: names.steerChain,
      }),
    ]);
    if (record) {
      const { guestIp } = this.layout.addresses(record);
      // The proxy's sockets of this sandbox would outlive it, and reach whoever gets the
      // address next.
      this.proxy?.forget(guestIp);
      this.held.forget(runtimeId);
      await forgetFlows(guestIp, (m) => this.log.warn({}, m));
    }
    // Released last: until here a crash leaves the slot claimed, and a retry or reconcile
    // finds everything that still needs removing.
    await this.store.release(runtimeId);
    if (!record || hasEgress(this.storedPolicy(record))) await this.syncForwarding();
    this.log.debug({ runtimeId }, "network torn down");
  }

  /** IPv4 forwarding is held exactly while some sandbox of ours has internet access. */
  private syncForwarding(force = false): Promise<void> {
    return this.forwarding.sync(
      () => this.store.list().some((r) => hasEgress(this.storedPolicy(r))),
      { force },
    );
  }

  private async claim(runtimeId: RuntimeId): Promise<SlotRecord> {
    const existing = this.store.get(runtimeId);
    if (existing) return existing;
    this.assertKeyFree(runtimeId);
    return claimFreeSlot(
      {
        store: this.store,
        layout: this.layout,
        pool: this.poolCidr,
        prefix: this.prefix,
        log: this.log,
      },
      runtimeId,
    );
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

  private requireRecord(runtimeId: RuntimeId): SlotRecord {
    const record = this.store.get(runtimeId);
    if (!record) throw new NetworkError("not_allocated", `${runtimeId} has no network`);
    return record;
  }

  /** Policies on disk were written by us, but a damaged file must not widen access. */
  private storedPolicy(record: SlotRecord): NetworkPolicy {
    if (!record.policy) return DENY_ALL;
    try {
      return resolvePolicy(record.policy);
    } catch (err) {
      this.log.warn({ sandboxId: record.sandboxId, err }, "stored policy invalid; denying all");
      return DENY_ALL;
    }
  }

  private init(): Promise<void> {
    this.ready ??= this.load().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await this.store.loadForPool(this.pool);
  }
}
