import type { Logger } from "pino";
import type { TemplateRef } from "./template-snapshots.js";

export interface PoolEntry {
  runtimeId: string;
  template: TemplateRef;
}

/**
 * Which templates deserve warm sandboxes. Each idle one holds ~100 MiB of the host's memory
 * (bench/README.md, agent-density), so a host with fifty templates cannot keep every one warm:
 * the default template always is, another only while it is in use (a create from it, or its
 * build, within `idleMs`).
 */
export interface PoolDemand {
  /** Kept warm whatever their use (the default template, `base`). */
  alwaysWarm: ReadonlySet<string>;
  /** A template unused this long keeps no warm sandbox; 0 keeps every template warm. */
  idleMs: number;
  now?: () => number;
}

export const EVERY_TEMPLATE_WARM: PoolDemand = { alwaysWarm: new Set(), idleMs: 0 };

/**
 * Pre-booted sandboxes per template, waiting for an owner. A claim takes one at once; the pool
 * refills in the background, one boot at a time so refills never starve real creates of CPU.
 */
export class WarmPool {
  private readonly entries: PoolEntry[] = [];
  private refilling = false;
  private wanted: TemplateRef[] = [];
  private stopped = false;
  private readonly lastUse = new Map<string, number>();
  private readonly trimmer: NodeJS.Timeout | undefined;

  constructor(
    readonly size: number,
    private readonly boot: (t: TemplateRef) => Promise<PoolEntry>,
    private readonly discard: (runtimeId: string) => Promise<void>,
    private readonly log: Logger,
    private readonly demand: PoolDemand = EVERY_TEMPLATE_WARM,
  ) {
    if (demand.idleMs > 0) {
      this.trimmer = setInterval(() => this.trim(), Math.min(60_000, demand.idleMs / 4));
      this.trimmer.unref();
    }
  }

  /** A create (or build) of this template: it is in use, so its sandboxes are kept warm. */
  used(name: string): void {
    this.lastUse.set(name, this.now());
  }

  /** How many warm sandboxes of `t` the pool keeps now. */
  target(t: TemplateRef): number {
    if (this.demand.idleMs <= 0 || this.demand.alwaysWarm.has(t.name)) return this.size;
    const last = this.lastUse.get(t.name);
    return last !== undefined && this.now() - last < this.demand.idleMs ? this.size : 0;
  }

  /** Discards the warm sandboxes of templates no longer in use (their memory back). */
  trim(): void {
    for (const e of this.dropWhere((e) => this.target(e.template) === 0)) {
      this.log.info({ template: e.template.name }, "warm sandbox discarded: template not in use");
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

  private now(): number {
    return (this.demand.now ?? Date.now)();
  }

  /** Adopted after an agent restart. */
  add(entry: PoolEntry): void {
    this.entries.push(entry);
  }

  remove(runtimeId: string): void {
    const i = this.entries.findIndex((e) => e.runtimeId === runtimeId);
    if (i >= 0) this.entries.splice(i, 1);
  }

  claim(t: TemplateRef): PoolEntry | undefined {
    const i = this.entries.findIndex(
      (e) => e.template.name === t.name && e.template.version === t.version,
    );
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

  private refill(): Promise<void> {
    if (this.refilling || this.size <= 0 || this.stopped) return this.inflight;
    this.inflight = this.refillLoop();
    return this.inflight;
  }

  private async refillLoop(): Promise<void> {
    this.refilling = true;
    try {
      for (;;) {
        if (this.stopped) return;
        const t = this.wanted.find((w) => this.count(w) < this.target(w));
        if (!t) return;
        try {
          this.entries.push(await this.boot(t));
        } catch (err) {
          this.log.error(
            { err: (err as Error).message, template: t.name },
            "warm pool boot failed",
          );
          return;
        }
      }
    } finally {
      this.refilling = false;
    }
  }

  /** Called after a claim: start refilling without waiting for it. */
  kick(): void {
    void this.refill();
  }
}
