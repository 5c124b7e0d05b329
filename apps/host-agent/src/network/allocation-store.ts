import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { invalidArgument, NetworkError } from "./errors.js";
import { isSandboxId } from "./naming.js";
import type { NetworkPolicy } from "./policy.js";

/** One claimed /30 of the pool, as persisted in `<stateDir>/slots/slot-<index>.json`. */
export interface SlotRecord {
  /** The id the slot was claimed for: in the agent a runtime id (the name is the files'). */
  readonly sandboxId: string;
  readonly index: number;
  /** Set once setup has run; reconcile rebuilds the sandbox's rules from it. */
  readonly policy?: NetworkPolicy;
  /** Set once setup has built the namespace and links completely. */
  readonly ready?: boolean;
}

const SLOT_FILE = /^slot-(\d+)\.json$/;
const TMP_FILE = /^\.tmp-(\d+)-[0-9a-f]+$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The pool's slots as one file per claimed slot. A claim is a hard link of a fully written
 * temp file onto the slot's name: link(2) fails with EEXIST if the slot is taken, so a claim
 * is atomic, never half-written, and two processes can never claim the same slot. A kill -9
 * at any point leaves either no slot file (nothing claimed) or a complete one (claimed, which
 * reconcile then keeps or releases); at worst a stray temp file, removed on the next load.
 * Files are not fsynced: a power loss also loses every namespace, and reconcile at the next
 * start releases whatever it finds that no known sandbox owns.
 */
export class AllocationStore {
  private readonly dir: string;
  private readonly bySandbox = new Map<string, SlotRecord>();
  private readonly byIndex = new Map<number, SlotRecord>();
  private readonly unreadable = new Set<number>();
  private cursor = 0;
  private claiming: Promise<void> = Promise.resolve();

  constructor(
    private readonly stateDir: string,
    private readonly slotCount: number,
  ) {
    this.dir = join(stateDir, "slots");
  }

  /**
   * load(), for the pool these slots index: slots are stored by index, so the same index under
   * another pool is another address. Refuses to start rather than hand out addresses that do
   * not match live interfaces; records the pool when no allocation depends on the old one.
   */
  async loadForPool(pool: string): Promise<void> {
    await this.load();
    const poolFile = join(this.stateDir, "pool");
    const stored = await readFile(poolFile, "utf8").then(
      (s) => s.trim(),
      () => null,
    );
    if (stored !== pool) {
      const live = this.list().length + this.unreadableSlots().length;
      if (stored !== null && live > 0) {
        throw invalidArgument(
          `address pool changed from ${stored} to ${pool} while ${live} allocations ` +
            `exist in ${this.stateDir}; tear those sandboxes down or restore the old pool`,
        );
      }
      await writeFile(poolFile, `${pool}\n`);
    }
  }

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.bySandbox.clear();
    this.byIndex.clear();
    this.unreadable.clear();
    const names = (await readdir(this.dir)).sort(
      (a, b) => Number(SLOT_FILE.exec(a)?.[1] ?? -1) - Number(SLOT_FILE.exec(b)?.[1] ?? -1),
    );
    for (const name of names) {
      const tmp = TMP_FILE.exec(name);
      if (tmp) {
        if (!pidAlive(Number(tmp[1]))) await unlink(join(this.dir, name)).catch(() => {});
        continue;
      }
      const m = SLOT_FILE.exec(name);
      if (!m) continue;
      const index = Number(m[1]);
      const record = await this.read(index);
      if (record === "missing") continue;
      if (record === "unreadable") {
        this.unreadable.add(index);
        continue;
      }
      // Only two processes racing on one state dir could claim twice for one sandbox; keep
      // the lowest index so lookups stay deterministic, and free the other.
      if (this.bySandbox.has(record.sandboxId)) {
        await unlink(this.slotPath(index)).catch(() => {});
        continue;
      }
      this.bySandbox.set(record.sandboxId, record);
      this.byIndex.set(index, record);
    }
    const highest = Math.max(-1, ...this.byIndex.keys(), ...this.unreadable);
    this.cursor = (highest + 1) % this.slotCount;
  }

  /**
   * Slot files we cannot parse (damage from outside: no writer leaves a partial file). They
   * stay claimed, so their address is never handed out twice, until reconcile drops them.
   */
  unreadableSlots(): number[] {
    return [...this.unreadable];
  }

  async dropUnreadable(): Promise<void> {
    for (const index of this.unreadable) {
      await unlink(this.slotPath(index)).catch(() => {});
    }
    this.unreadable.clear();
  }

  get(sandboxId: string): SlotRecord | undefined {
    return this.bySandbox.get(sandboxId);
  }

  list(): SlotRecord[] {
    return [...this.bySandbox.values()];
  }

  /**
   * Next-fit rather than lowest-free: a just-released address is handed out again as late as
   * possible, so stale ARP entries and conntrack state of the previous owner have aged out.
   */
  async claim(sandboxId: string): Promise<SlotRecord> {
    // Claims in this process take turns: racing each other would only collide on the same
    // slot and retry. Other processes are kept out by link(2) alone.
    const turn = this.claiming.then(() => this.claimNext(sandboxId));
    this.claiming = turn.then(
      () => {},
      () => {},
    );
    return turn;
  }

  private async claimNext(sandboxId: string): Promise<SlotRecord> {
    const existing = this.bySandbox.get(sandboxId);
    if (existing) return existing;
    const start = this.cursor;
    for (let tried = 0; tried < this.slotCount; tried++) {
      const index = (start + tried) % this.slotCount;
      if (this.byIndex.has(index) || this.unreadable.has(index)) continue;
      const record = await this.claimIndex(sandboxId, index);
      if (record) return record;
    }
    throw new NetworkError(
      "pool_exhausted",
      `address pool exhausted: all ${this.slotCount} /30 slots are in use`,
    );
  }

  /** Claims one given slot; null if it is taken (possibly by another process). */
  async claimIndex(sandboxId: string, index: number): Promise<SlotRecord | null> {
    if (index < 0 || index >= this.slotCount || this.byIndex.has(index)) return null;
    const tmp = await this.writeTemp({ sandboxId });
    try {
      await link(tmp, this.slotPath(index));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return null;
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    const record: SlotRecord = { sandboxId, index };
    this.bySandbox.set(sandboxId, record);
    this.byIndex.set(index, record);
    this.cursor = (index + 1) % this.slotCount;
    return record;
  }

  /** Atomic replace (rename) of a slot we already hold. */
  async update(record: SlotRecord): Promise<void> {
    const tmp = await this.writeTemp(record);
    try {
      await rename(tmp, this.slotPath(record.index));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    this.bySandbox.set(record.sandboxId, record);
    this.byIndex.set(record.index, record);
  }

  async release(sandboxId: string): Promise<void> {
    const record = this.bySandbox.get(sandboxId);
    if (!record) return;
    await unlink(this.slotPath(record.index)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    this.bySandbox.delete(sandboxId);
    this.byIndex.delete(record.index);
  }

  private slotPath(index: number): string {
    return join(this.dir, `slot-${index}.json`);
  }

  private async writeTemp(content: object): Promise<string> {
    const tmp = join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
    await writeFile(tmp, `${JSON.stringify(content)}\n`, { mode: 0o600, flag: "wx" });
    return tmp;
  }

  private async read(index: number): Promise<SlotRecord | "missing" | "unreadable"> {
    let text: string;
    try {
      text = await readFile(this.slotPath(index), "utf8");
    } catch {
      return "missing";
    }
    try {
      const data = JSON.parse(text) as Partial<SlotRecord>;
      if (!isSandboxId(data.sandboxId)) return "unreadable";
      return {
        sandboxId: data.sandboxId,
        index,
        ...(data.policy ? { policy: data.policy } : {}),
        ...(data.ready === true ? { ready: true } : {}),
      };
    } catch {
      return "unreadable";
    }
  }
}
