import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { RuntimeStatus } from "../driver.js";

/**
 * A failed create or restore can leave runsc sandbox or gofer processes holding the
 * container's control socket, which makes the next attempt fail: find them by their
 * arguments and kill them.
 */
export async function killLeftovers(
  stateDir: string,
  bundle: string,
  runtimeId: string,
): Promise<number[]> {
  const killed = await ourProcesses(stateDir, bundle, runtimeId);
  for (const pid of killed) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/** runsc processes (or our checkpoint shell) of this container, by their arguments. */
export async function ourProcesses(
  stateDir: string,
  bundle: string,
  runtimeId: string,
  subcommand?: string,
): Promise<number[]> {
  const found: number[] = [];
  const pids = await readdir("/proc").catch(() => [] as string[]);
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const argv = cmdline.split("\0");
    const runsc =
      path.basename(argv[0] ?? "").startsWith("runsc") || argv[3] === "wrenn-checkpoint";
    const ours = runsc && (argv.includes(`--root=${stateDir}`) || argv.includes(stateDir));
    if (
      ours &&
      (argv.includes(runtimeId) || argv.some((a) => a.includes(bundle))) &&
      (subcommand === undefined || argv.includes(subcommand))
    ) {
      found.push(Number(pid));
    }
  }
  return found;
}

/** runsc's container status as the driver reports it. */
export function mapStatus(status: string | undefined): RuntimeStatus {
  switch (status) {
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "created":
    case "stopped":
      return "stopped";
    default:
      return "absent";
  }
}
