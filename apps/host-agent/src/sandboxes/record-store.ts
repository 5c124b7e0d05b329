import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { holdsSecrets, persistedPolicy } from "../network/policy.js";
import type { SandboxRecord } from "./record.js";

export const RUNTIME_ID = /^wr-[0-9a-f]{8}$/;

/**
 * Sandbox records on disk, one file per sandbox in its own directory, written atomically
 * (temp file, rename) so a kill -9 at any moment leaves either the old or the new record,
 * never a torn one; and fsynced, so a power loss does too.
 */
export class RecordStore {
  constructor(readonly root: string) {}

  dirOf(runtimeId: string): string {
    if (!RUNTIME_ID.test(runtimeId)) throw new Error(`invalid runtime id ${runtimeId}`);
    return path.join(this.root, runtimeId);
  }

  /**
   * `syncAfter`: the fsync runs after the rename, without being waited for. For a record whose
   * loss to a power cut costs nothing the cut does not already cost (a new sandbox `running`:
   * its processes die with the host either way), where waiting for the disk under load took a
   * third of a second of a create (bench/pool-demand).
   */
  async save(record: SandboxRecord, { syncAfter = false } = {}): Promise<void> {
    const dir = this.dirOf(record.runtimeId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.record-${randomBytes(4).toString("hex")}`);
    const fh = await open(tmp, "w", 0o600);
    try {
      // Header rules and proxy credentials are secrets: kept in memory only (see HeldSecrets),
      // with a mark that they existed, so a restarted agent can say it lacks them.
      if (holdsSecrets(record.network)) record.networkHeld = true;
      const network = persistedPolicy(record.network);
      await fh.writeFile(JSON.stringify({ ...record, network }, null, 2));
      if (!syncAfter) await fh.sync();
      await rename(tmp, path.join(dir, "record.json"));
    } catch (err) {
      await fh.close();
      throw err;
    }
    if (!syncAfter) return fh.close();
    // The same inode, record.json now: its data reaches the disk in the background.
    void fh
      .sync()
      .catch(() => {})
      .finally(() => fh.close().catch(() => {}));
  }

  async loadAll(): Promise<SandboxRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const out: SandboxRecord[] = [];
    for (const name of names.filter((n) => RUNTIME_ID.test(n))) {
      try {
        out.push(
          JSON.parse(
            await readFile(path.join(this.root, name, "record.json"), "utf8"),
          ) as SandboxRecord,
        );
      } catch {
        // A directory without a readable record was never fully created: adoption removes it.
        out.push({ runtimeId: name, phase: "creating" } as SandboxRecord);
      }
    }
    return out;
  }

  async remove(runtimeId: string): Promise<void> {
    await rm(path.join(this.dirOf(runtimeId), "record.json"), { force: true });
  }

  async newRuntimeId(): Promise<string> {
    for (;;) {
      const id = `wr-${randomBytes(4).toString("hex")}`;
      try {
        await mkdir(path.join(this.root, id), { recursive: false, mode: 0o700 });
        return id;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          await mkdir(this.root, { recursive: true, mode: 0o700 });
          continue;
        }
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
  }
}
