import { access, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";

export interface TemplateRef {
  name: string;
  version: string;
  rootfs: string;
}

/**
 * Checkpoints of a freshly booted, quiesced sandbox per template version. Restoring one
 * skips Node's start-up under ptrace (the slow part of a cold boot). The image holds no
 * secret and no per-sandbox state: it is taken before any /init.
 */
export class TemplateSnapshots {
  constructor(readonly root: string) {}

  dir(t: TemplateRef): string {
    // "-tmpdisk": taken with /tmp on the sandbox's disk (RuntimeSpec.tmpOnDisk); a checkpoint
    // restores only into the mount table it was taken with, so older ones are not reused.
    return path.join(this.root, `${t.name}-${t.version}-tmpdisk`);
  }

  async get(t: TemplateRef): Promise<string | undefined> {
    const dir = this.dir(t);
    try {
      await access(path.join(dir, "checkpoint.img"));
      return dir;
    } catch {
      return undefined;
    }
  }

  /** Removes the scratch directories of snapshots a crash interrupted. */
  async removePartial(): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.includes(".partial-"))
        .map((n) => rm(path.join(this.root, n), { recursive: true, force: true })),
    );
  }

  /** A scratch directory; `commit` moves it into place in one rename. */
  async scratch(t: TemplateRef): Promise<string> {
    const dir = `${this.dir(t)}.partial-${process.pid}`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async commit(t: TemplateRef, scratch: string): Promise<void> {
    await rm(this.dir(t), { recursive: true, force: true });
    await rename(scratch, this.dir(t));
  }
}
