import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import type { Stack } from "./stack.js";

/**
 * Kills a sandbox's runsc processes from the host: it dies as a crash would kill it (the
 * agent's records name its runtime), and the control plane soon reads it `error`.
 */
export async function killSandboxRuntime(stack: Stack, sandboxId: string): Promise<void> {
  const records = join(stack.dataDir, "agent", "sandboxes");
  let runtimeId = "";
  for (const name of await readdir(records)) {
    const rec = JSON.parse(await readFile(join(records, name, "record.json"), "utf8")) as {
      sandboxId?: string;
      runtimeId: string;
    };
    if (rec.sandboxId === sandboxId) runtimeId = rec.runtimeId;
  }
  expect(runtimeId).toMatch(/^wr-/);
  const pids = await processesWith([join(stack.dataDir, "agent", "runsc"), runtimeId]);
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) process.kill(pid, "SIGKILL");
}

/** The pids of the processes whose command line holds every needle. */
export async function processesWith(needles: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (needles.every((n) => cmdline.includes(n))) out.push(Number(entry));
  }
  return out;
}
