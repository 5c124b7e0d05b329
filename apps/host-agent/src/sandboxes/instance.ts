import path from "node:path";
import type { RuntimeSpec } from "../runtime/driver.js";
import { envdRuntimeSpec } from "../runtime/gvisor/envd-runtime.js";
import { SandboxDisk } from "../storage/sandbox-disk.js";
import type { SandboxRecord } from "./record.js";

/** Host-side pieces of one sandbox derived from its record: directory, disk, runtime spec. */
export class Instance {
  readonly disk: SandboxDisk;

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

  spec(netnsPath: string, pidsLimit: number): RuntimeSpec {
    return {
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
