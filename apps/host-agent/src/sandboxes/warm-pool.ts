import type { Logger } from "pino";
import type { TemplateRef } from "./template-snapshots.js";

export interface PoolEntry {
  runtimeId: string;
  template: TemplateRef;
}

/**
 * Pre-booted sandboxes per template, waiting for an owner. A claim takes one at once; the pool
 * refills in the background, one boot at a time so refills never starve real creates of CPU.
 */
export class WarmPool {
  private readonly entries: PoolEntry[] = [];
  private refilling = false;
  private wanted: TemplateRef[] = [];
  private stopped = false;

  constructor(
    readonly size: number,
    private readonly boot: (t: TemplateRef) => Promise<PoolEntry>,
    private readonly discard: (runtimeId: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

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
    for (const e of [...this.entries]) {
      if (!templates.some((t) => t.name === e.template.name && t.version === e.template.version)) {
        this.entries.splice(this.entries.indexOf(e), 1);
        void this.discard(e.runtimeId).catch((err: Error) =>
          this.log.warn(
            { err: err.message, runtimeId: e.runtimeId },
            "discarding pooled sandbox failed",
          ),
        );
      }
    }
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
        const t = this.wanted.find((w) => this.count(w) < this.size);
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
