import { readFile } from "node:fs/promises";

/**
 * The CPU feature flags of this host (/proc/cpuinfo "flags" of the first CPU, sorted). A gVisor
 * checkpoint holds state of the features its sandbox could use (XSAVE areas, AVX-512...):
 * restored on a CPU without one of them it fails, or worse, misbehaves later. So the flags go
 * with a hibernated sandbox, and a host lacking any of them refuses the restore.
 */
export async function hostCpuFeatures(cpuinfo = "/proc/cpuinfo"): Promise<string[]> {
  const text = await readFile(cpuinfo, "utf8");
  const line = text.split("\n").find((l) => /^(flags|Features)\s*:/.test(l));
  if (!line) return [];
  return [
    ...new Set(
      line
        .slice(line.indexOf(":") + 1)
        .trim()
        .split(/\s+/),
    ),
  ]
    .filter(Boolean)
    .sort();
}

/** Features the checkpoint's host had and this one lacks (none: it may restore here). */
export function missingCpuFeatures(required: readonly string[], have: readonly string[]): string[] {
  const present = new Set(have);
  return required.filter((f) => !present.has(f));
}
