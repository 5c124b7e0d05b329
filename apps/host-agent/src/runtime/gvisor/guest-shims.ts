import { lstat, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Libraries the base template preloads into every process (/etc/ld.so.preload) to work around
 * bugs of bookworm's runsc 0.0~20221219 (images/base/native): statx() with AT_NO_AUTOMOUNT
 * rejected (`ls PATH`, `stat PATH` failed) and zero-length writes to a terminal blocking.
 * Newer runsc has neither bug, and a preload costs every exec of every process, so a sandbox
 * of such a runsc boots without them. The template itself stays the same for both.
 */
export const OLD_RUNSC_SHIMS = [
  "/opt/wrenn/lib/libstatx-noautomount.so",
  "/opt/wrenn/lib/libtty-zero-write.so",
];

/**
 * Removes the shims from the root filesystem's /etc/ld.so.preload (an overlay over the
 * template, not yet running, so nothing in the sandbox can race this), keeping any other
 * entry; the file goes when nothing is left. Touches only a regular file under a real /etc:
 * a sandbox's own disk is hostile, and a symlink there could point anywhere on the host.
 */
export async function dropOldRunscShims(rootfs: string): Promise<void> {
  const etc = path.join(rootfs, "etc");
  const file = path.join(etc, "ld.so.preload");
  const [etcStat, fileStat] = await Promise.all([
    lstat(etc).catch(() => undefined),
    lstat(file).catch(() => undefined),
  ]);
  if (!etcStat?.isDirectory() || !fileStat?.isFile()) return;
  const text = await readFile(file, "utf8");
  const entries = text.split(/[\s:]+/).filter(Boolean);
  const kept = entries.filter((e) => !OLD_RUNSC_SHIMS.includes(e));
  if (kept.length === entries.length) return;
  if (kept.length === 0) await rm(file, { force: true });
  else await writeFile(file, `${kept.join("\n")}\n`);
}
