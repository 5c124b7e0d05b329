/**
 * What each sandbox (by its address) holds open in the egress proxy or its DNS forwarder, with
 * a cap: every entry costs the root agent file descriptors, so one sandbox must not be able to
 * take them all.
 */
export class PerPeer<T> {
  private readonly byPeer = new Map<string, Set<T>>();

  constructor(readonly cap: number) {}

  /** False (and nothing added) when the peer already holds `cap` entries. */
  add(peer: string, item: T): boolean {
    const set = this.byPeer.get(peer) ?? new Set<T>();
    if (set.size >= this.cap) return false;
    set.add(item);
    this.byPeer.set(peer, set);
    return true;
  }

  delete(peer: string, item: T): void {
    const set = this.byPeer.get(peer);
    if (!set?.delete(item)) return;
    if (set.size === 0) this.byPeer.delete(peer);
  }

  of(peer: string): ReadonlySet<T> {
    return this.byPeer.get(peer) ?? new Set<T>();
  }

  /** Removes and returns everything the peer holds. */
  take(peer: string): T[] {
    const set = this.byPeer.get(peer);
    this.byPeer.delete(peer);
    return [...(set ?? [])];
  }

  all(): T[] {
    return [...this.byPeer.values()].flatMap((s) => [...s]);
  }
}
