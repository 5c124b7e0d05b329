// A push-to-pull bridge between event sources (process output, inotify) and Connect's
// server-streaming handlers, which are async generators. Bounded by bytes: a source that
// cannot be slowed down (inotify) and outruns its reader is cut off with an error instead of
// growing envd's memory without limit. Process output is slowed down at its source long before
// this bound (see `pending` and ManagedProcess's backlog), so it never reaches it.

export class QueueOverflowError extends Error {}

export class EventQueue<T> {
  #items: T[] = [];
  #pendingBytes = 0;
  #waiter: (() => void) | undefined;
  #closed = false;
  #error: Error | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number = () => 0,
  ) {}

  /** Bytes queued and not yet taken by the reader. */
  get pending(): number {
    return this.#pendingBytes;
  }

  push(item: T): void {
    if (this.#closed) return;
    this.#pendingBytes += this.sizeOf(item);
    if (this.#pendingBytes > this.maxBytes) {
      this.fail(new QueueOverflowError("client is reading too slowly; stream dropped"));
      return;
    }
    this.#items.push(item);
    this.#wake();
  }

  /** No more items after those already queued. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  fail(error: Error): void {
    if (this.#closed) return;
    this.#error = error;
    this.#closed = true;
    this.#items = [];
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /**
   * Next item, or undefined when closed and drained. `signal` ends the wait early (client
   * gone); `idleMs` makes it return "idle" when nothing arrived in that time (keepalives).
   */
  async next(signal: AbortSignal, idleMs?: number): Promise<T | undefined | "idle"> {
    for (;;) {
      if (this.#items.length > 0) {
        const item = this.#items.shift() as T;
        this.#pendingBytes -= this.sizeOf(item);
        return item;
      }
      if (this.#error) throw this.#error;
      if (this.#closed || signal.aborted) return undefined;
      const outcome = await new Promise<"wake" | "idle">((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const done = (value: "wake" | "idle") => {
          if (timer) clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.#waiter = undefined;
          resolve(value);
        };
        const onAbort = () => done("wake");
        this.#waiter = () => done("wake");
        signal.addEventListener("abort", onAbort, { once: true });
        if (idleMs !== undefined) timer = setTimeout(() => done("idle"), idleMs);
      });
      if (outcome === "idle" && this.#items.length === 0 && !this.#closed) return "idle";
    }
  }
}
