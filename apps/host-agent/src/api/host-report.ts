import { statfs } from "node:fs/promises";
import os from "node:os";
import type { SandboxManager } from "../sandboxes/sandbox-manager.js";

/** What this host has and uses: HostStatus over gRPC and a registered host's heartbeat alike. */
export interface HostReport {
  hostname: string;
  runtimes: string[];
  total: { vcpus: number; memoryMb: number; diskMb: number };
  used: { vcpus: number; memoryMb: number; diskMb: number };
  sandboxesByState: Record<string, number>;
}

export async function hostReport(manager: SandboxManager, dataDir: string): Promise<HostReport> {
  const u = manager.usage();
  const fs = await statfs(dataDir).catch(() => undefined);
  return {
    hostname: os.hostname(),
    runtimes: manager.runtimes,
    total: {
      vcpus: os.cpus().length,
      memoryMb: Math.floor(os.totalmem() / 2 ** 20),
      diskMb: fs ? Math.floor((fs.blocks * fs.bsize) / 2 ** 20) : 0,
    },
    used: { vcpus: u.vcpus, memoryMb: u.memoryMb, diskMb: u.diskMb },
    sandboxesByState: { ...u.byPhase },
  };
}
