import { chmod, chown, link, lstat, mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command/run-command.js";
import { mountedPaths } from "../storage/sandbox-disk.js";

/**
 * Runs `fn` with a writable view of the layer root `lower`: an overlayfs whose upper directory
 * (in `scratch`, same filesystem) takes what the step writes, so the cached layer below is
 * never changed. Afterwards the complete new root is written to `out` as hard links (upper's
 * files for what the step wrote, lower's for the rest) and the overlay is unmounted, also on
 * failure: no mount outlives the step. redirect_dir, metacopy and index are off, so every
 * file the merged view shows lives at the same path in upper or in lower.
 */
export async function runOnLayer(
  lower: string,
  scratch: string,
  out: string,
  fn: (merged: string) => Promise<void>,
): Promise<void> {
  for (const p of [lower, scratch]) {
    // overlayfs parses its options on ',' and ':'; such paths cannot be expressed.
    if (!path.isAbsolute(p) || /[,:\s\\]/.test(p)) {
      throw new Error(`unusable path for an overlay mount: ${JSON.stringify(p)}`);
    }
  }
  const upper = path.join(scratch, "upper");
  const work = path.join(scratch, "work");
  const merged = path.join(scratch, "merged");
  for (const d of [upper, work, merged]) await mkdir(d, { recursive: true });
  await runCommand("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off,index=off,xino=off`,
    merged,
  ]);
  try {
    await fn(merged);
    await mkdir(out);
    await linkTree({ merged, upper, lower, out, dev: (await lstat(lower)).dev }, "");
  } finally {
    await unmountUnder(scratch);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Unmounts every mount at or below `dir` (deepest first); a crashed build's leftovers too. */
export async function unmountUnder(dir: string): Promise<void> {
  const prefix = `${path.resolve(dir)}/`;
  const mine = [...(await mountedPaths())]
    .filter((m) => `${m}/`.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mine) {
    await runCommand("umount", [m]).catch(() => runCommand("umount", ["-l", m]));
  }
}

interface Trees {
  merged: string;
  upper: string;
  lower: string;
  out: string;
  /** The layers' filesystem: a link source must be on it. */
  dev: number;
}

/**
 * Mirrors the merged view at `rel` into `out`: directories made afresh with the merged
 * owner and mode, everything else hard-linked from upper or lower. The tree came from a
 * hostile step: nothing is followed (lstat, link(2) never dereferences), and a link source
 * taken from lower must be the very inode the merged view shows (on one filesystem overlayfs
 * reports the real inode number), so a symbolic link in a path never makes a host file part
 * of a layer.
 */
async function linkTree(t: Trees, rel: string): Promise<void> {
  for (const e of await readdir(path.join(t.merged, rel))) {
    const r = path.join(rel, e);
    const seen = await lstat(path.join(t.merged, r));
    const dest = path.join(t.out, r);
    if (seen.isDirectory()) {
      await mkdir(dest);
      await chown(dest, seen.uid, seen.gid);
      await chmod(dest, seen.mode & 0o7777);
      await linkTree(t, r);
      continue;
    }
    // What the step wrote is in upper (a copied-up file keeps reporting its lower inode
    // number, so upper is taken by path: a merged directory is a real directory in upper or
    // absent there). The rest must be the very inode lower has at that path.
    let source: string | undefined;
    const up = path.join(t.upper, r);
    const inUpper = await lstat(up).catch(() => undefined);
    if (inUpper && !inUpper.isDirectory() && inUpper.dev === t.dev) source = up;
    else if (!inUpper) {
      const down = path.join(t.lower, r);
      const st = await lstat(down).catch(() => undefined);
      if (st && !st.isDirectory() && st.ino === seen.ino && st.dev === t.dev) source = down;
    }
    if (!source) throw new Error(`layer: /${r} is in neither the step's writes nor its base`);
    await link(source, dest);
  }
}
