/**
 * Serialises work per key (one sandbox's setup and teardown never interleave) while letting
 * different keys run in parallel, plus an exclusive mode (reconcile) that waits for
 * everything in flight and holds everything else back.
 */
export class LockTable {
  private readonly tails = new Map<string, Promise<void>>();
  private exclusive: Promise<void> = Promise.resolve();

  async withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    await this.exclusive;
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    try {
      await previous;
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  async withAll<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise<void>((r) => {
      release = r;
    });
    try {
      await before;
      await Promise.all(this.tails.values());
      return await fn();
    } finally {
      release();
    }
  }
}
