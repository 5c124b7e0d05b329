import type { Logger } from "pino";
import { type NetworkPolicy, samePolicy } from "../network/policy.js";
import { DemandTracker, EVERY_TEMPLATE_WARM, type PoolDemand } from "./pool-demand.js";
import type { TemplateRef } from "./template-snapshots.js";

export { EVERY_TEMPLATE_WARM, type PoolDemand } from "./pool-demand.js";

export interface PoolEntry {
  runtimeId: string;
  template: TemplateRef;
  /** The network policy it waits with (undefined: none, deny all). */
  network?: NetworkPolicy | undefined;
}

/**
 * A policy a warm sandbox may wait with: none that holds secrets or sends traffic through a
 * proxy of the caller's (those are the caller's alone, and kept in memory only).
 */
const shareable = (p: NetworkPolicy): boolean =>
  p.rules === undefined && p.egressProxy === undefined;

/**
 * Pre-booted sandboxes per template, waiting for an owner. A claim takes one at once; the pool
 * refills in the background, up to `refillBoots` boots at a time (each at a small CPU share:
 * RuntimeSpec.background), to the number PoolDemand gives each template. Each waits with the
 * network policy its template's last create asked for, so a claim that asks the same has no
 * firewall to write (two nft runs, most of a claim's time: bench/pool-demand).
 */
export class WarmPool {
  private readonly entries: PoolEntry[] = [];
  /** Boots in flight, by template version. */
  private readonly booting = new Map<string, number>();
  private wanted: TemplateRef[] = [];
  private stopped = false;
  private readonly demand: DemandTracker;
  private readonly trimmer: NodeJS.Timeout;
  /** Told whenever a warm sandbox is ready (creates waiting for a boot turn take it). */
  onReady: (() => void) | undefined;
  /** The policy of each template's last create, when it is one a warm sandbox may wait with. */
  private readonly lastNetwork = new Map<string, NetworkPolicy>();

  constructor(
    readonly size: number,
    private readonly boot: (
      t: TemplateRef,
      network: NetworkPolicy | undefined,
    ) => Promise<PoolEntry>,
    private readonly discard: (runtimeId: string) => Promise<void>,
    private readonly log: Logger,
    demand: PoolDemand = EVERY_TEMPLATE_WARM,
    private readonly refillBoots = 1,
  ) {
    this.demand = new DemandTracker(size, demand);
    // Also gives back what a burst's peak added, once the burst is forgotten.
    const every = demand.idleMs > 0 ? Math.min(60_000, demand.idleMs / 4) : 60_000;
    this.trimmer = setInterval(() => this.trim(), every);
    this.trimmer.unref();
  }

  /** A create (or build) of this template: it is in use, so its sandboxes are kept warm. */
  used(name: string, network?: NetworkPolicy): void {
    this.demand.used(name);
    if (network && shareable(network)) this.lastNetwork.set(name, network);
  }

  /** How many warm sandboxes of `t` the pool keeps now. */
  target(t: TemplateRef): number {
    return this.demand.target(t.name);
  }

  /**
   * Discards the warm sandboxes a template no longer deserves (their memory back): all of an
   * unused template's, and those above a template's target once its burst is forgotten.
   */
  trim(): void {
    const kept = new Map<string, number>();
    const dropped = this.dropWhere((e) => {
      const n = (kept.get(e.template.version) ?? 0) + 1;
      kept.set(e.template.version, n);
      return n > this.target(e.template);
    });
    for (const e of dropped) {
      this.log.info(
        { template: e.template.name, target: this.target(e.template) },
        "warm sandbox discarded: more than the template's demand",
      );
    }
  }

  /** Takes the entries `drop` picks out of the pool and discards their sandboxes; returns them. */
  private dropWhere(drop: (e: PoolEntry) => boolean): PoolEntry[] {
    const dropped = this.entries.filter(drop);
    for (const e of dropped) {
      this.entries.splice(this.entries.indexOf(e), 1);
      void this.discard(e.runtimeId).catch((err: Error) =>
        this.log.warn(
          { err: err.message, runtimeId: e.runtimeId },
          "discarding pooled sandbox failed",
        ),
      );
    }
    return dropped;
  }

  /** Adopted after an agent restart. */
  add(entry: PoolEntry): void {
    this.entries.push(entry);
  }

  remove(runtimeId: string): void {
    const i = this.entries.findIndex((e) => e.runtimeId === runtimeId);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** A warm sandbox of `t`, one waiting with `network` if there is one. */
  claim(t: TemplateRef, network?: NetworkPolicy): PoolEntry | undefined {
    const ofT = (e: PoolEntry) => e.template.name === t.name && e.template.version === t.version;
    let i = this.entries.findIndex((e) => ofT(e) && samePolicy(e.network, network));
    if (i < 0) i = this.entries.findIndex(ofT);
    if (i < 0) return undefined;
    const [entry] = this.entries.splice(i, 1);
    return entry;
  }

  count(t?: TemplateRef): number {
    return t
      ? this.entries.filter((e) => e.template.version === t.version).length
      : this.entries.length;
  }

  /** Keep `size` sandboxes of these templates ready; entries of other versions are dropped. */
  maintain(templates: TemplateRef[]): void {
    this.wanted = templates;
    this.dropWhere(
      (e) => !templates.some((t) => t.name === e.template.name && t.version === e.template.version),
    );
    void this.refill();
  }

  /** Stops keeping sandboxes of a template (being deleted); returns those it held. */
  forget(name: string): string[] {
    this.wanted = this.wanted.filter((t) => t.name !== name);
    const gone = this.entries.filter((e) => e.template.name === name);
    for (const e of gone) this.entries.splice(this.entries.indexOf(e), 1);
    return gone.map((e) => e.runtimeId);
  }

  /** Stops refilling, waits for a boot in flight, and hands back every entry. */
  async drain(): Promise<PoolEntry[]> {
    this.stopped = true;
    clearInterval(this.trimmer);
    await this.inflight;
    return this.entries.splice(0);
  }

  private inflight: Promise<void> = Promise.resolve();
  private workers = 0;

  private refill(): Promise<void> {
    if (this.size <= 0 || this.stopped) return this.inflight;
    const loops: Promise<void>[] = [];
    while (this.workers < this.refillBoots && this.next()) {
      this.workers += 1;
      loops.push(this.refillLoop().finally(() => (this.workers -= 1)));
    }
    if (loops.length > 0) this.inflight = Promise.all([this.inflight, ...loops]).then(() => {});
    return this.inflight;
  }

  /**
   * The template whose next warm sandbox comes first: one below its floor, else one below its
   * demand while the host's bound and memory allow.
   */
  private next(): TemplateRef | undefined {
    const have = (t: TemplateRef) => this.count(t) + (this.booting.get(t.version) ?? 0);
    const short = this.wanted.find((t) => have(t) < this.demand.floor(t.name));
    if (short) return short;
    const total = this.entries.length + [...this.booting.values()].reduce((a, b) => a + b, 0);
    if (total >= this.demand.maxWarm || !this.demand.roomForMore()) return undefined;
    return this.wanted.find((t) => have(t) < this.target(t));
  }

  private async refillLoop(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const t = this.next();
      if (!t) return;
      this.booting.set(t.version, (this.booting.get(t.version) ?? 0) + 1);
      const started = performance.now();
      try {
        this.entries.push(await this.boot(t, this.lastNetwork.get(t.name)));
        this.onReady?.();
        this.demand.booted(performance.now() - started);
      } catch (err) {
        this.log.error({ err: (err as Error).message, template: t.name }, "warm pool boot failed");
        return;
      } finally {
        this.booting.set(t.version, (this.booting.get(t.version) ?? 1) - 1);
      }
    }
  }

  /** Called after a claim: start refilling without waiting for it. */
  kick(): void {
    void this.refill();
  }
}
