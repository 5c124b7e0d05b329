/**
 * Turns for the boots done on a create's request (the warm pool was empty). Ten boots at once
 * on a 2-core host each took ten times one boot's time, so every create of a burst waited for
 * the slowest (bench/pool-demand); taken in turns, the first are served in one boot's time.
 * A create waiting for its turn takes a warm sandbox instead if one becomes ready first (the
 * pool's refill, started by the creates before it).
 */
export class BootTurns {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly slots: number) {}

  /**
   * `claim()` tried first and again whenever something changes: what it gives is returned as
   * `claimed`; else, once a slot is free, a `release` to call when the boot has ended.
   */
  async take<T>(claim: () => T | undefined): Promise<{ claimed: T } | { release: () => void }> {
    for (;;) {
      const claimed = claim();
      if (claimed !== undefined) return { claimed };
      if (this.running < this.slots) {
        this.running += 1;
        let released = false;
        return {
          release: () => {
            if (released) return;
            released = true;
            this.running -= 1;
            this.changed();
          },
        };
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** A slot was freed or a warm sandbox is ready: the waiting creates look again, in order. */
  changed(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  get queued(): number {
    return this.waiting.length;
  }
}
