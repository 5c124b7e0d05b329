import type { SandboxRecord } from "../store/sandbox-store.js";
import { listenToSandboxWrites } from "../store/sandbox-writes.js";

/** How long a running sandbox's row is trusted without a write heard: the backstop for
 * writes this process cannot hear (another control plane on the same PostgreSQL). */
export const ENDPOINT_CACHE_TTL_MS = 2000;
export const ENDPOINT_CACHE_MAX = 10_000;

/**
 * The rows of running sandboxes, by id, for the proxy's per-request look-up (a PGlite query in
 * the control plane's own event loop cost ~110 ms per proxied request under load). Only a row
 * in state running with a host is kept; any write to a row drops it (store/sandbox-writes.ts),
 * and a look-up that raced a write does not store what it read.
 */
export class EndpointCache {
  readonly #rows = new Map<string, { row: SandboxRecord; until: number }>();
  /** Bumped on every write heard: a read that began before it must not be stored. */
  #generation = 0;

  constructor(
    private readonly ttlMs = ENDPOINT_CACHE_TTL_MS,
    private readonly max = ENDPOINT_CACHE_MAX,
    private readonly now: () => number = () => performance.now(),
  ) {
    listenToSandboxWrites(this);
  }

  onSandboxWrite(ids: readonly string[]): void {
    this.#generation++;
    for (const id of ids) this.#rows.delete(id);
  }

  get(id: string): SandboxRecord | undefined {
    const entry = this.#rows.get(id);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.#rows.delete(id);
      return undefined;
    }
    return entry.row;
  }

  /** The mark to hand to `put` once the read it guards is done. */
  mark(): number {
    return this.#generation;
  }

  /** Keeps `row` if it is running and nothing was written since `mark`. */
  put(row: SandboxRecord, mark: number): void {
    if (mark !== this.#generation || row.state !== "running" || !row.hostId) return;
    this.#rows.delete(row.id);
    if (this.#rows.size >= this.max) {
      // Oldest first: a Map iterates in insertion order.
      const oldest = this.#rows.keys().next().value;
      if (oldest !== undefined) this.#rows.delete(oldest);
    }
    this.#rows.set(row.id, { row, until: this.now() + this.ttlMs });
  }

  get size(): number {
    return this.#rows.size;
  }
}
