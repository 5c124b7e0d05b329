/**
 * One operation at a time per key (a sandbox's pause, resume and destroy; its network setup and
 * teardown) while different keys proceed in parallel, plus an exclusive mode (network reconcile,
 * flush) that waits for everything in flight and holds new work back until it is done.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();
  private exclusive: Promise<void> = Promise.resolve();

  /** Whether an operation on this key is running or waiting. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Runs `fn` after every earlier operation on `key` (and any exclusive run) has settled. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const gate = this.exclusive;
    const prev = this.tails.get(key) ?? Promise.resolve();
    // A failed predecessor does not stop its successor: each caller gets its own result.
    const next = Promise.all([gate, prev.catch(() => {})]).then(() => fn());
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Runs `fn` alone: after all in-flight keyed work, before any keyed work queued after it. */
  async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.exclusive;
    // Only what was queued before this call: keyed work queued after it waits for it.
    const inflight = [...this.tails.values()];
    let release!: () => void;
    this.exclusive = new Promise<void>((r) => {
      release = r;
    });
    try {
      await before;
      await Promise.all(inflight);
      return await fn();
    } finally {
      release();
    }
  }
}
