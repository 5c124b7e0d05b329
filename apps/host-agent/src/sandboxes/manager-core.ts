import { readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DEFAULT_TEMPLATE } from "@wrenn/contract";
import type { Logger } from "pino";
import { EnvdClient } from "../envd/envd-client.js";
import { KeyedLock } from "../locks/keyed-lock.js";
import { holdsSecrets } from "../network/policy.js";
import type { GuestControl, RuntimeDriver } from "../runtime/driver.js";
import { SandboxDisk } from "../storage/sandbox-disk.js";
import type { TemplateStore } from "../templates/store.js";
import { BootTurns } from "./boot-turns.js";
import { AgentError } from "./errors.js";
import type { Instance } from "./instance.js";
import type { ManagerConfig, Observer, SandboxView } from "./manager-types.js";
import type { SandboxNetworks } from "./network-port.js";
import type { Phase } from "./record.js";
import type { RecordStore } from "./record-store.js";
import { bootForPool } from "./sandbox-boot.js";
import type { TemplateSnapshots } from "./template-snapshots.js";
import { WarmPool } from "./warm-pool.js";

/**
 * Memory a burst's extra warm sandboxes leave free (MemAvailable, which os.freemem reads): a
 * tenth of the host, at least 2 GiB, so sandboxes in use never pay for sandboxes in waiting.
 */
function memoryReserve(): number {
  return Math.max(2 * 1024 ** 3, os.totalmem() / 10);
}

/**
 * What every part of the manager shares: the host's sandboxes in memory, its collaborators,
 * and the few operations all parts use (look-up, phase changes, envd clients, destroy). The
 * operations themselves live by job in sandbox-boot.ts, sandbox-pause.ts,
 * sandbox-adoption.ts and sandbox-liveness.ts; SandboxManager is the facade over them.
 */
export class ManagerCore {
  /** Every sandbox on this host by runtime id, with all it holds (see Instance). */
  readonly instances = new Map<string, Instance>();
  /** The index from the control plane's sandbox id to the runtime id. */
  readonly bySandbox = new Map<string, string>();
  readonly lock = new KeyedLock();
  readonly goneListeners = new Set<(sandboxId: string) => void>();
  readonly pool: WarmPool;
  /** Boots on a create's request, a few at a time (BootTurns). */
  readonly bootTurns: BootTurns;
  /** Goes up whenever a sandbox changes state on its own (see HeartbeatResponse). */
  stateVersion = 0;

  constructor(
    readonly config: ManagerConfig,
    readonly records: RecordStore,
    readonly runtime: RuntimeDriver,
    readonly networks: SandboxNetworks,
    readonly templates: TemplateStore,
    readonly snapshots: TemplateSnapshots,
    readonly log: Logger,
    readonly observer: Observer,
  ) {
    // The agent builds veth links and overlay directories; a driver that wants a TAP device or
    // a block image needs those built first, not a sandbox that fails at its first boot.
    const { network, storage } = runtime.capabilities;
    if (network !== networks.attachment || storage !== SandboxDisk.format) {
      throw new Error(
        `runtime ${runtime.kind} needs a ${network} link and ${storage} storage; this agent builds a ${networks.attachment} link and ${SandboxDisk.format} storage`,
      );
    }
    this.pool = new WarmPool(
      config.poolSize,
      (t, network) => bootForPool(this, t, network),
      (rid) => this.destroyInstance(rid),
      log,
      {
        alwaysWarm: new Set([DEFAULT_TEMPLATE]),
        idleMs: (config.poolIdleSeconds ?? 0) * 1000,
        maxWarm: Math.max(config.poolSize, config.poolMax ?? config.poolSize),
        roomForMore: () => os.freemem() > memoryReserve(),
      },
      config.poolRefillBoots ?? 1,
    );
    this.bootTurns = new BootTurns(config.bootSlots ?? 2);
    this.pool.onReady = () => this.bootTurns.changed();
  }

  async writeResolver(inst: Instance): Promise<void> {
    const conf = this.config.sandboxDns.map((ip) => `nameserver ${ip}\n`).join("");
    const token = inst.record.envdAccessToken;
    await this.envdOf(inst.runtimeId).writeFile("/etc/resolv.conf", conf, "root", token);
  }

  async destroyInstance(runtimeId: string): Promise<void> {
    const inst = this.instances.get(runtimeId);
    if (inst && inst.record.phase !== "destroying") {
      inst.record.phase = "destroying";
      await this.records.save(inst.record).catch(() => {});
    }
    const goneId = inst?.record.sandboxId;
    if (goneId) for (const listener of this.goneListeners) listener(goneId);
    inst?.envd?.close();
    if (inst) inst.envd = undefined;
    await this.runtime.stop(runtimeId);
    await this.networks.teardown(runtimeId);
    const dir = this.records.dirOf(runtimeId);
    await (inst?.disk ?? new SandboxDisk(dir)).destroy();
    await rm(dir, { recursive: true, force: true });
    this.instances.delete(runtimeId);
    if (inst?.record.sandboxId) this.bySandbox.delete(inst.record.sandboxId);
  }

  instance(runtimeId: string): Instance {
    const inst = this.instances.get(runtimeId);
    if (!inst) throw new AgentError("not_found", `no sandbox with runtime id ${runtimeId}`);
    return inst;
  }

  bySandboxId(sandboxId: string): Instance {
    const rid = this.bySandbox.get(sandboxId);
    if (!rid) throw new AgentError("not_found", `sandbox ${sandboxId} not found on this host`);
    return this.instance(rid);
  }

  envdOf(runtimeId: string): EnvdClient {
    const inst = this.instances.get(runtimeId);
    if (inst?.envd) return inst.envd;
    if (!inst?.lease) throw new AgentError("unavailable", `sandbox ${runtimeId} has no network`);
    inst.envd = new EnvdClient(inst.lease.guestIp);
    return inst.envd;
  }

  /** The sandbox's envd as the runtime driver needs it around a suspend. */
  guest(inst: Instance): GuestControl {
    const runtimeId = inst.runtimeId;
    return {
      quiesce: () => this.envdOf(runtimeId).quiesce(inst.record.envdAccessToken),
      waitReady: () => this.envdOf(runtimeId).waitHealthy(this.config.healthTimeoutMs),
      closingConnections: () => this.networks.closingConnections(runtimeId),
    };
  }

  async setPhase(inst: Instance, phase: Phase, save?: { syncAfter: boolean }): Promise<void> {
    inst.record.phase = phase;
    inst.record.stateChangedAt = new Date().toISOString();
    await this.records.save(inst.record, save);
  }

  view(inst: Instance): SandboxView {
    const r = inst.record;
    return {
      ...r,
      sandboxId: r.sandboxId ?? "",
      address: inst.lease?.guestIp ?? "",
      pauseMode: r.phase === "paused" ? "checkpoint" : r.phase === "frozen" ? "freeze" : undefined,
      runtime: this.runtime.kind,
      networkIncomplete: r.networkHeld === true && !holdsSecrets(r.network),
    };
  }
}

export const DEATH_MESSAGES = {
  oom: "the sandbox ran out of memory and its runtime was killed",
  pids: "the sandbox reached its task limit and its runtime crashed",
  crashed: "the sandbox stopped unexpectedly",
} as const;

export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += (await stat(path.join(dir, name))).size;
  }
  return total;
}
