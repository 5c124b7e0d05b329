import { createHash } from "node:crypto";
import { access, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ImageConfig } from "../templates/image-config.js";

export interface TemplateRef {
  name: string;
  version: string;
  rootfs: string;
  /** Templates from OCI images: the image's Env/WorkingDir/User, applied to processes. */
  image?: ImageConfig;
  /**
   * Templates whose envd is not in the image but in the host's envd runtime, bind-mounted at
   * /.wrenn (runtime/gvisor/envd-runtime.ts).
   */
  envd?: { hostDir: string; hash: string; loader: string };
}

/**
 * Checkpoints of a freshly booted, quiesced sandbox per template version. Restoring one
 * skips Node's start-up under gVisor (the slow part of a cold boot). The image holds no
 * secret and no per-sandbox state: it is taken before any /init, or, for a template with a
 * start command, after an /init with only the image's env, user and workdir (no token) and
 * with the service started and ready (E2B's semantics): then its disk is kept beside it
 * (disk.img), since the service's files must be there, inode for inode, at every restore.
 *
 * They are kept per runtime identity (runsc build and platform): a checkpoint only restores
 * under the runsc that made it, so after a runsc change the template is checkpointed again.
 */
export class TemplateSnapshots {
  private readonly own: string;

  constructor(
    readonly root: string,
    identity: string,
  ) {
    const slug = identity.replace(/[^A-Za-z0-9.]+/g, "-").slice(0, 80);
    const hash = createHash("sha256").update(identity).digest("hex").slice(0, 8);
    this.own = path.join(root, `${slug}-${hash}`);
  }

  dir(t: TemplateRef): string {
    // "-tmpdisk": taken with /tmp on the sandbox's disk (RuntimeSpec.tmpOnDisk); a checkpoint
    // restores only into the mount table it was taken with, so older ones are not reused.
    // A checkpoint of an image template holds the envd runtime it booted with in memory.
    const envd = t.envd ? `-envd${t.envd.hash}` : "";
    return path.join(this.own, `${t.name}-${t.version}${envd}-tmpdisk${startedKey(t)}`);
  }

  /** The disk a checkpoint with the service up was taken with; restores copy it. */
  diskOf(checkpointDir: string): string {
    return path.join(checkpointDir, "disk.img");
  }

  /**
   * Marks a template whose service could not be saved (it kept connections open past the
   * wait, or runsc refused it): its sandboxes run the start command at create instead, and
   * nothing tries again until the template or the runtime changes.
   */
  async markUnsaveable(t: TemplateRef, reason: string): Promise<void> {
    await mkdir(this.own, { recursive: true });
    await writeFile(`${this.dir(t)}.unsaveable`, `${reason}\n`);
  }

  async unsaveable(t: TemplateRef): Promise<boolean> {
    return access(`${this.dir(t)}.unsaveable`).then(
      () => true,
      () => false,
    );
  }

  /** Removes every checkpoint of a template (it is being deleted). */
  async removeTemplate(name: string): Promise<void> {
    const entries = await readdir(this.own).catch(() => [] as string[]);
    await Promise.all(
      entries
        .filter((e) => e.startsWith(`${name}-`))
        .map((e) => rm(path.join(this.own, e), { recursive: true, force: true })),
    );
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

  /**
   * Removes the scratch directories of snapshots a crash interrupted, and the checkpoints of
   * other runtime identities (and of the layout before identities), which can never restore
   * here and are cheap to take again.
   */
  async removePartial(): Promise<void> {
    const others = (await readdir(this.root).catch(() => [] as string[]))
      .map((n) => path.join(this.root, n))
      .filter((p) => p !== this.own);
    const partial = (await readdir(this.own).catch(() => [] as string[]))
      .filter((n) => n.includes(".partial-"))
      .map((n) => path.join(this.own, n));
    await Promise.all([...others, ...partial].map((p) => rm(p, { recursive: true, force: true })));
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

/**
 * "-started<hash>" for a template with a start command: its checkpoint holds the service up,
 * after an /init; checkpoints of the older layout (taken before any /init, without it) never
 * match. The hash covers what the service was started with.
 */
export function startedKey(t: TemplateRef): string {
  const image = t.image;
  if (!image?.startCmd) return "";
  const what = JSON.stringify([
    image.startCmd,
    image.readyCmd ?? "",
    image.user,
    image.workdir,
    image.env,
  ]);
  return `-started${createHash("sha256").update(what).digest("hex").slice(0, 8)}`;
}
