import { mkdir, readFile, rm, statfs, truncate } from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command/run-command.js";

/**
 * A sandbox's writable root: an ext4 filesystem in a sparse file of exactly disk_mb (so a full
 * disk stops at the limit with ENOSPC), holding the upper and work directories of an overlayfs
 * whose lower layer is the shared, read-only template. Costs about 10 ms to create, and lives
 * on disk, so it survives agent and host restarts (a paused sandbox keeps its files).
 *
 *   <dir>/disk.img   sparse ext4 image
 *   <dir>/disk/      its mount: upper/, work/
 *   <dir>/rootfs/    the overlay: what the sandbox sees as /
 */
export class SandboxDisk {
  /** What a runtime is given as its root (RuntimeCapabilities.storage). */
  static readonly format = "overlay-dir";
  readonly image: string;
  readonly diskMount: string;
  readonly rootfs: string;

  /** lowerdir may be omitted when the disk is only going to be destroyed. */
  constructor(
    readonly dir: string,
    readonly lowerdir?: string,
  ) {
    for (const p of lowerdir === undefined ? [dir] : [dir, lowerdir]) {
      // overlayfs parses its options on ',' and ':'; such paths cannot be expressed.
      if (!path.isAbsolute(p) || /[,:\s\\]/.test(p)) {
        throw new Error(`unusable path for an overlay mount: ${JSON.stringify(p)}`);
      }
    }
    this.image = path.join(dir, "disk.img");
    this.diskMount = path.join(dir, "disk");
    this.rootfs = path.join(dir, "rootfs");
  }

  async create(sizeMb: number): Promise<void> {
    if (!Number.isInteger(sizeMb) || sizeMb < 64) {
      throw new Error(`disk size must be a whole number of MiB, at least 64 (got ${sizeMb})`);
    }
    await mkdir(this.diskMount, { recursive: true });
    await mkdir(this.rootfs, { recursive: true });
    await truncate(this.image, 0).catch(() => {});
    await runCommand("truncate", ["-s", `${sizeMb}M`, this.image]);
    // -m 0: the sandbox gets all of it; lazy init and no discard keep this at milliseconds.
    await runCommand("mkfs.ext4", [
      "-q",
      "-F",
      "-m",
      "0",
      "-J",
      "size=4",
      "-E",
      "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
      this.image,
    ]);
    await this.mount();
  }

  /**
   * A sandbox's disk from another's image (a snapshot's): the same bytes, so the restored
   * checkpoint finds every file, inode for inode, where its processes left it.
   */
  async createFrom(image: string): Promise<void> {
    await mkdir(this.diskMount, { recursive: true });
    await mkdir(this.rootfs, { recursive: true });
    await runCommand("cp", ["--sparse=always", "--reflink=auto", image, this.image], {
      timeoutMs: 600_000,
    });
    await this.mount();
  }

  /**
   * Copies the disk image while its filesystem is frozen (flushed, no writer gets through),
   * so the copy is consistent even while the overlay above it stays mounted.
   */
  async copyImageTo(dest: string): Promise<void> {
    await runCommand("fsfreeze", ["-f", this.diskMount]);
    try {
      await runCommand("cp", ["--sparse=always", "--reflink=auto", this.image, dest], {
        timeoutMs: 600_000,
      });
    } finally {
      await runCommand("fsfreeze", ["-u", this.diskMount]);
    }
  }

  /** Mounts what is not mounted yet (after a host reboot, for instance); idempotent. */
  async mount(): Promise<void> {
    const mounted = await mountedPaths();
    if (!mounted.has(this.diskMount)) {
      await runCommand("mount", ["-o", "loop", this.image, this.diskMount]);
    }
    await mkdir(path.join(this.diskMount, "upper"), { recursive: true });
    await mkdir(path.join(this.diskMount, "work"), { recursive: true });
    if (!mounted.has(this.rootfs)) {
      if (!this.lowerdir) throw new Error(`no template given for the overlay of ${this.dir}`);
      await runCommand("mount", [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${this.lowerdir},upperdir=${this.diskMount}/upper,workdir=${this.diskMount}/work`,
        this.rootfs,
      ]);
    }
  }

  async usage(): Promise<{ usedBytes: number; totalBytes: number }> {
    const s = await statfs(this.diskMount);
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, totalBytes: s.blocks * s.bsize };
  }

  /** Unmounts and deletes everything; idempotent, and fine on a half-created disk. */
  async destroy(): Promise<void> {
    const mounted = await mountedPaths();
    for (const m of [this.rootfs, this.diskMount]) {
      if (mounted.has(m)) await unmount(m);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function unmount(target: string): Promise<void> {
  try {
    await runCommand("umount", [target]);
  } catch {
    // Something still holds it (a dying gofer): detach now, the kernel frees it when released.
    await runCommand("umount", ["-l", target]);
  }
}

/** Mount points of this host, from /proc/self/mountinfo (octal escapes decoded). */
export async function mountedPaths(): Promise<Set<string>> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const out = new Set<string>();
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (field)
      out.add(
        field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      );
  }
  return out;
}
