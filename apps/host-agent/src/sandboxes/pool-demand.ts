/**
 * Which templates deserve warm sandboxes, and how many. Each idle one holds ~100 MiB of the
 * host's memory (bench/README.md, agent-density), so a host with fifty templates cannot keep
 * every one warm: the default template always is, another only while it is in use (a create
 * from it, or its build, within `idleMs`). A template in use keeps the pool's size, and more
 * when its creates come faster than a refill boot: as many as the most creates it has seen
 * within one boot's time lately, so a burst that came once is served warm when it comes again,
 * up to `maxWarm` for the whole host and only while the host's memory has room.
 */
export interface PoolDemand {
  /** Kept warm whatever their use (the default template, `base`). */
  alwaysWarm: ReadonlySet<string>;
  /** A template unused this long keeps no warm sandbox; 0 keeps every template warm. */
  idleMs: number;
  /** The most warm sandboxes the host holds, every template together; default: no growth. */
  maxWarm?: number;
  /** Whether the host's memory has room for one more warm sandbox above the pool's size. */
  roomForMore?: () => boolean;
  now?: () => number;
}

export const EVERY_TEMPLATE_WARM: PoolDemand = { alwaysWarm: new Set(), idleMs: 0 };

/** How long the creates that set a template's peak are remembered. */
export const BURST_MEMORY_MS = 10 * 60_000;
/** The shortest span counted as one burst, for boots faster than this. */
const MIN_BURST_WINDOW_MS = 1000;
/** A refill boot's time before any was measured (a restore on a busy 2-core host). */
const FIRST_BOOT_MS = 2000;

export class DemandTracker {
  private readonly lastUse = new Map<string, number>();
  /** Each template's create times within BURST_MEMORY_MS, oldest first. */
  private readonly creates = new Map<string, number[]>();
  /** A refill boot's time, a moving average: the span in which claims cannot be refilled. */
  private bootMs = FIRST_BOOT_MS;

  constructor(
    /** Warm sandboxes per template in use, whatever its rate. */
    readonly size: number,
    private readonly demand: PoolDemand,
  ) {}

  private now(): number {
    return (this.demand.now ?? Date.now)();
  }

  /** A create (or build) of this template. */
  used(name: string): void {
    const now = this.now();
    this.lastUse.set(name, now);
    const times = this.creates.get(name) ?? [];
    times.push(now);
    this.creates.set(name, times);
    this.forget(times, now);
  }

  /** A refill boot took `ms`. */
  booted(ms: number): void {
    this.bootMs = Math.round(this.bootMs * 0.7 + ms * 0.3);
  }

  /** The warm sandboxes a template keeps whatever its rate: the size, or none when unused. */
  floor(name: string): number {
    if (this.demand.idleMs <= 0 || this.demand.alwaysWarm.has(name)) return this.size;
    const last = this.lastUse.get(name);
    return last !== undefined && this.now() - last < this.demand.idleMs ? this.size : 0;
  }

  /** The warm sandboxes a template deserves now: its floor, raised to its recent peak. */
  target(name: string): number {
    const floor = this.floor(name);
    if (floor === 0) return 0;
    return Math.max(floor, Math.min(this.peak(name), this.maxWarm));
  }

  /** The host-wide bound on warm sandboxes above the floors. */
  get maxWarm(): number {
    return this.demand.maxWarm ?? this.size;
  }

  /** Whether one more warm sandbox above a template's floor fits the host's memory. */
  roomForMore(): boolean {
    return this.demand.roomForMore?.() ?? true;
  }

  /** The most creates of `name` that came within one refill boot's time, lately. */
  peak(name: string): number {
    const times = this.creates.get(name);
    if (!times) return 0;
    this.forget(times, this.now());
    const window = Math.max(MIN_BURST_WINDOW_MS, this.bootMs);
    let most = 0;
    for (let start = 0, end = 0; end < times.length; end++) {
      while ((times[end] as number) - (times[start] as number) >= window) start++;
      most = Math.max(most, end - start + 1);
    }
    return most;
  }

  private forget(times: number[], now: number): void {
    while (times.length > 0 && now - (times[0] as number) > BURST_MEMORY_MS) times.shift();
  }
}
