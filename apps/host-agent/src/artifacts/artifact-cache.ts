import { mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { type ArtifactKey, artifactPath } from "./artifact-store.js";

interface Entry {
  file: string;
  bytes: number;
}

/**
 * This host's copies of artifacts it uploaded to a shared store, as the very data.tar it sent
 * (<dir>/<kind>/<id>.tar), so bringing one back here reads it from disk instead of the store.
 * A copy is only ever a hint: whoever uses it checks it against the store's manifest first
 * (unpackTarFile) and downloads on any doubt.
 *
 * Bounded by a byte budget (WRENN_ARTIFACT_CACHE_MB), least recently used evicted first. The
 * order survives a restart as the files' mtimes (touched on use). It lives under the agent's
 * data dir, beside the sandboxes' disks, and is never counted as any sandbox's own disk: a
 * sandbox's quota is its disk image, and a cached copy is the agent's to drop at any time.
 */
export class ArtifactCache {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  private constructor(
    readonly dir: string,
    readonly budgetBytes: number,
    private readonly log: Logger,
  ) {}

  /** Reads what an earlier run left (oldest use first); drops partial files of a crash. */
  static async open(dir: string, budgetBytes: number, log: Logger): Promise<ArtifactCache> {
    const cache = new ArtifactCache(dir, budgetBytes, log);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const found: { name: string; entry: Entry; used: number }[] = [];
    for (const kind of await readdir(dir)) {
      const kindDir = path.join(dir, kind);
      if (!(await stat(kindDir)).isDirectory()) continue;
      for (const name of await readdir(kindDir)) {
        const file = path.join(kindDir, name);
        if (!name.endsWith(".tar")) {
          await rm(file, { recursive: true, force: true });
          continue;
        }
        const s = await stat(file);
        found.push({
          name: `${kind}/${name.slice(0, -4)}`,
          entry: { file, bytes: s.size },
          used: s.mtimeMs,
        });
      }
    }
    for (const f of found.sort((a, b) => a.used - b.used)) {
      cache.entries.set(f.name, f.entry);
      cache.total += f.entry.bytes;
    }
    await cache.evict();
    return cache;
  }

  private fileOf(key: ArtifactKey): string {
    return path.join(this.dir, `${artifactPath(key)}.tar`);
  }

  /** Where a tar meant for the cache is written before adopt() takes it (same filesystem). */
  async scratchFile(key: ArtifactKey): Promise<string> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    return `${file}.partial-${process.pid}-${Date.now()}`;
  }

  /** Takes a complete tar (from scratchFile) as key's copy, replacing any, then keeps to budget. */
  async adopt(key: ArtifactKey, tar: string): Promise<void> {
    const name = artifactPath(key);
    const file = this.fileOf(key);
    const { size } = await stat(tar);
    this.forgetEntry(name);
    if (size > this.budgetBytes) {
      // Kept, it would push out every other copy and then itself.
      await rm(file, { force: true });
      await rm(tar, { force: true });
      this.log.info(
        { artifact: name, bytes: size, budgetBytes: this.budgetBytes },
        "artifact cache: a copy bigger than the whole budget is not kept",
      );
      return;
    }
    await rename(tar, file);
    this.entries.set(name, { file, bytes: size });
    this.total += size;
    await this.evict();
  }

  /** The copy's path, marked as just used; undefined when this host keeps none. */
  async lookup(key: ArtifactKey): Promise<string | undefined> {
    const name = artifactPath(key);
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    this.entries.delete(name);
    this.entries.set(name, entry);
    const now = new Date();
    // Gone behind our back (an operator's cleanup): no copy, the caller downloads.
    await utimes(entry.file, now, now).catch(() => this.forgetEntry(name));
    return this.entries.get(name)?.file;
  }

  /** Idempotent. */
  async remove(key: ArtifactKey): Promise<void> {
    const name = artifactPath(key);
    this.forgetEntry(name);
    await rm(this.fileOf(key), { force: true });
  }

  get usedBytes(): number {
    return this.total;
  }

  private forgetEntry(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    this.total -= entry.bytes;
  }

  private async evict(): Promise<void> {
    for (const [name, entry] of this.entries) {
      if (this.total <= this.budgetBytes) return;
      this.forgetEntry(name);
      await rm(entry.file, { force: true });
      // A restore of it on this host will download it: worth knowing when sizing the budget.
      this.log.info(
        { artifact: name, bytes: entry.bytes, budgetBytes: this.budgetBytes },
        "artifact cache: evicted the least recently used copy",
      );
    }
  }
}
