import path from "node:path";
import type { EnvdClient } from "../envd/envd-client.js";
import type { RuntimeSpec } from "../runtime/driver.js";
import { envdRuntimeSpec } from "../runtime/gvisor/envd-runtime.js";
import { SandboxDisk } from "../storage/sandbox-disk.js";
import type { NetworkLease } from "./network-port.js";
import type { SandboxRecord } from "./record.js";

/**
 * One sandbox on this host, the manager's one table entry per runtime id: its record, the
 * pieces derived from it (directory, disk, runtime spec) and what it holds while it runs
 * (network lease, envd client, last CPU reading), so they all go when it goes.
 */
export class Instance {
  readonly disk: SandboxDisk;
  /** Its network once set up: envd and user ports are reached at the lease's guestIp. */
  lease: NetworkLease | undefined;
  /** Its envd client, made on first use from the lease (ManagerCore.envdOf). */
  envd: EnvdClient | undefined;
  /** The previous CPU reading, which the next stats() call measures its rate against. */
  cpuSample: { cpuNanos: number; at: number } | undefined;

  constructor(
    readonly record: SandboxRecord,
    readonly dir: string,
  ) {
    this.disk = new SandboxDisk(dir, record.template?.rootfs);
  }

  get runtimeId(): string {
    return this.record.runtimeId;
  }

  get checkpointDir(): string {
    return path.join(this.dir, "checkpoint");
  }

  spec(netnsPath: string, pidsLimit: number, background = false): RuntimeSpec {
    return {
      ...(background ? { background } : {}),
      runtimeId: this.record.runtimeId,
      dir: this.dir,
      rootfs: this.disk.rootfs,
      netnsPath,
      vcpus: this.record.resources.vcpus,
      memoryMb: this.record.resources.memoryMb,
      pidsLimit,
      tmpOnDisk: this.record.tmpOnDisk === true,
      mounts: this.record.mounts ?? [],
      ...(this.record.template.envd
        ? { envdRuntime: envdRuntimeSpec(this.record.template.envd, this.record.template.image) }
        : {}),
    };
  }
}
