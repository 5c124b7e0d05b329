import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  BACKGROUND_CPU_SHARES,
  cpuWeightOf,
  DEFAULT_CPU_SHARES,
} from "../../apps/host-agent/src/runtime/cgroup.js";
import { cgroupPath } from "../../apps/host-agent/src/runtime/gvisor/oci-spec.js";

// A sandbox's CPU weight as the kernel has it, read from its cgroup's own file (not through the
// agent's Cgroup class, which is what writes it): cpu.shares on v1, cpu.weight on v2.

const CGROUP_V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

/** What the kernel file reads for a warm-pool sandbox and for one in use, on this host. */
export const CPU_WEIGHT = CGROUP_V2
  ? { background: cpuWeightOf(BACKGROUND_CPU_SHARES), foreground: cpuWeightOf(DEFAULT_CPU_SHARES) }
  : { background: BACKGROUND_CPU_SHARES, foreground: DEFAULT_CPU_SHARES };

/** The sandbox's CPU weight; undefined when it has no cgroup (gone, or not booted yet). */
export async function cpuWeightOfSandbox(runtimeId: string): Promise<number | undefined> {
  const file = CGROUP_V2
    ? path.join("/sys/fs/cgroup", cgroupPath(runtimeId), "cpu.weight")
    : path.join("/sys/fs/cgroup/cpu", cgroupPath(runtimeId), "cpu.shares");
  const text = await readFile(file, "utf8").catch(() => undefined);
  return text === undefined ? undefined : Number(text.trim());
}
