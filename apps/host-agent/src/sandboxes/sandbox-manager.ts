import type { Logger } from "pino";
import { holdsSecrets, type NetworkPolicy, needsResolver } from "../network/policy.js";
import type { RuntimeDriver } from "../runtime/driver.js";
import { restoreSnapshot } from "../snapshots/snapshot-restore.js";
import type { InstalledTemplate, TemplateStore } from "../templates/store.js";
import { installEgressCa } from "./egress-ca-install.js";
import { AgentError } from "./errors.js";
import type { Instance } from "./instance.js";
import { ManagerCore } from "./manager-core.js";
import type { CreateRequest, ManagerConfig, Observer, SandboxView } from "./manager-types.js";
import type { SandboxNetworks } from "./network-port.js";
import type { RecordStore } from "./record-store.js";
import { adoptSandboxes } from "./sandbox-adoption.js";
import { createSandbox, templateRefOf } from "./sandbox-boot.js";
import { checkLiveness } from "./sandbox-liveness.js";
import { pauseSandbox, resumeSandbox } from "./sandbox-pause.js";
import { finalizeTemplate, snapshotTemplate } from "./template-checkpoint.js";
import type { TemplateRef, TemplateSnapshots } from "./template-snapshots.js";
import type { WarmPool } from "./warm-pool.js";

export type { CreateRequest, ManagerConfig, Observer, SandboxView } from "./manager-types.js";

/**
 * Every sandbox of this host: create (warm pool, template restore, cold boot), pause (checkpoint
 * when safe, freeze otherwise), resume, destroy, and adoption of what survived a restart. The
 * state of each sandbox is its record on disk; memory only caches it.
 *
 * A facade: the state and shared operations are in manager-core.ts, each job in its own
 * sandbox-*.ts file; queries, network updates and destroy are small enough to stay here.
 */
export class SandboxManager {
  private readonly core: ManagerCore;
  readonly pool: WarmPool;

  constructor(
    config: ManagerConfig,
    records: RecordStore,
    runtime: RuntimeDriver,
    networks: SandboxNetworks,
    templates: TemplateStore,
    snapshots: TemplateSnapshots,
    log: Logger,
    observer: Observer,
  ) {
    this.core = new ManagerCore(
      config,
      records,
      runtime,
      networks,
      templates,
      snapshots,
      log,
      observer,
    );
    this.pool = this.core.pool;
  }

  // ---- queries ---------------------------------------------------------------------------

  /** The runtime drivers sandboxes can run under here, the default first (HostStatus). */
  get runtimes(): string[] {
    return [this.core.runtime.kind];
  }

  list(): SandboxView[] {
    // An empty runtime id is a create in flight holding its sandbox id: not a sandbox yet.
    return [...this.core.bySandbox.values()]
      .filter(Boolean)
      .map((rid) => this.core.view(this.core.instance(rid)));
  }

  /** Sandboxes that use a template (any version); warm-pool sandboxes do not count. */
  usersOf(template: string): string[] {
    return [...this.core.instances.values()]
      .filter((i) => i.record.template.name === template && i.record.sandboxId)
      .map((i) => i.record.sandboxId as string);
  }

  /** Before a template is deleted: its pooled sandboxes and checkpoints go. */
  async dropTemplate(template: string): Promise<void> {
    const pooled = this.core.pool.forget(template);
    await Promise.all(pooled.map((rid) => this.core.destroyInstance(rid).catch(() => {})));
    await this.core.snapshots.removeTemplate(template);
  }

  get(sandboxId: string): SandboxView {
    return this.core.view(this.core.bySandboxId(sandboxId));
  }

  /** The host-side pieces of a sandbox (its checkpoint and disk, for a snapshot). */
  instanceOf(sandboxId: string): Instance {
    return this.core.bySandboxId(sandboxId);
  }

  /** Where the forwarder sends traffic for a port of a running sandbox. */
  target(sandboxId: string): { host: string } {
    const inst = this.core.bySandboxId(sandboxId);
    if (inst.record.phase !== "running") {
      throw new AgentError(
        "failed_precondition",
        `sandbox ${sandboxId} is ${inst.record.phase}, not running`,
      );
    }
    const lease = inst.lease;
    if (!lease) throw new AgentError("unavailable", `sandbox ${sandboxId} has no network`);
    return { host: lease.guestIp };
  }

  async stats(sandboxId: string) {
    const inst = this.core.bySandboxId(sandboxId);
    if (inst.record.phase !== "running" && inst.record.phase !== "frozen") {
      throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${inst.record.phase}`);
    }
    const [raw, disk] = await Promise.all([
      this.core.runtime.stats(inst.runtimeId),
      inst.disk.usage(),
    ]);
    const now = Date.now();
    const prev = inst.cpuSample ?? {
      cpuNanos: 0,
      at: Date.parse(inst.record.stateChangedAt),
    };
    inst.cpuSample = { cpuNanos: raw.cpuNanos, at: now };
    const wallNanos = Math.max(1, (now - prev.at) * 1e6);
    const vcpus = inst.record.resources.vcpus;
    // Not clamped: a reading well above 100 would mean the CPU quota is not enforced.
    const pct = Math.max(0, ((raw.cpuNanos - prev.cpuNanos) / wallNanos / vcpus) * 100);
    return {
      timestamp: new Date(now),
      cpuCount: vcpus,
      cpuUsedPct: pct,
      memUsedBytes: raw.memUsedBytes,
      memTotalBytes: inst.record.resources.memoryMb * 1024 * 1024,
      memCacheBytes: raw.memCacheBytes,
      diskUsedBytes: disk.usedBytes,
      diskTotalBytes: disk.totalBytes,
    };
  }

  /** Resources held by sandboxes that occupy memory or disk on this host. */
  usage(): { vcpus: number; memoryMb: number; diskMb: number; byPhase: Record<string, number> } {
    const out = { vcpus: 0, memoryMb: 0, diskMb: 0, byPhase: {} as Record<string, number> };
    for (const inst of this.core.instances.values()) {
      const r = inst.record;
      if (r.sandboxId) out.byPhase[r.phase] = (out.byPhase[r.phase] ?? 0) + 1;
      if (r.phase === "running" || r.phase === "frozen") {
        out.vcpus += r.resources.vcpus;
        out.memoryMb += r.resources.memoryMb;
      }
      out.diskMb += r.resources.diskMb;
    }
    out.byPhase.pooled = this.core.pool.count();
    return out;
  }

  // ---- create ----------------------------------------------------------------------------

  create(req: CreateRequest): Promise<SandboxView> {
    return req.fromSnapshot
      ? restoreSnapshot(this.core, req, req.fromSnapshot)
      : createSandbox(this.core, req);
  }

  /** How sandboxes of a built template boot: its root, and envd's runtime when not its own. */
  refOf(t: InstalledTemplate): TemplateRef {
    return templateRefOf(this.core, t);
  }

  /** How a sandbox of this template boots here now, or undefined when it is not built here. */
  async templateRef(name: string): Promise<TemplateRef | undefined> {
    const t = await this.core.templates.current(name);
    return t ? templateRefOf(this.core, t) : undefined;
  }

  /** Whether this host holds the sandbox (a create in flight counts). */
  has(sandboxId: string): boolean {
    return this.core.bySandbox.has(sandboxId);
  }

  /** Boots the template cold, quiesces envd and saves it: later sandboxes restore this. */
  snapshotTemplate(t: TemplateRef, signal?: AbortSignal): Promise<void> {
    return snapshotTemplate(this.core, t, signal);
  }

  /**
   * A build's last step: the template being built, not yet current, run with its start and
   * ready commands (their failure fails the build) and saved with its service up.
   */
  finalizeTemplate(
    t: InstalledTemplate,
    say: (message: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    return finalizeTemplate(this.core, templateRefOf(this.core, t), say, signal);
  }

  // ---- pause / resume ----------------------------------------------------------------------

  pause(sandboxId: string, mode: "checkpoint" | "freeze"): Promise<SandboxView> {
    return pauseSandbox(this.core, sandboxId, mode);
  }

  resume(sandboxId: string): Promise<SandboxView> {
    return resumeSandbox(this.core, sandboxId);
  }

  // ---- network -----------------------------------------------------------------------------

  /**
   * Replaces the sandbox's egress policy (validated by the caller with the contract's rules).
   * Running or frozen: the rules change at once and forbidden open connections are cut. Paused:
   * recorded, and applied by the resume's network setup. A sandbox that gains internet access
   * gets the host's name servers, as one created with it does.
   */
  updateNetwork(sandboxId: string, policy: NetworkPolicy): Promise<SandboxView> {
    const inst = this.core.bySandboxId(sandboxId);
    return this.core.lock.run(inst.runtimeId, async () => {
      const phase = inst.record.phase;
      if (phase !== "running" && phase !== "frozen" && phase !== "paused") {
        throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${phase}`);
      }
      inst.record.network = policy;
      inst.record.networkHeld = holdsSecrets(policy);
      await this.core.records.save(inst.record);
      if (phase !== "paused") await this.core.networks.applyPolicy(inst.runtimeId, policy);
      if (phase === "running" && needsResolver(policy) && this.core.config.sandboxDns.length > 0) {
        await this.core.writeResolver(inst);
      }
      // Rules added later: the CA goes in now (a paused sandbox gets it at resume).
      if (phase === "running") await installEgressCa(this.core, inst);
      return this.core.view(inst);
    });
  }

  // ---- destroy -----------------------------------------------------------------------------

  /** Called as soon as a sandbox starts going away for good (before it is stopped). */
  onGone(listener: (_sandboxId: string) => void): void {
    this.core.goneListeners.add(listener);
  }

  /** Idempotent: an unknown sandbox is already gone. */
  async destroy(sandboxId: string): Promise<void> {
    const rid = this.core.bySandbox.get(sandboxId);
    if (!rid) return;
    await this.core.lock.run(rid, () => this.core.destroyInstance(rid));
    this.core.bySandbox.delete(sandboxId);
  }

  // ---- adoption after a restart --------------------------------------------------------------

  /**
   * Brings back every sandbox that survived an agent restart and removes what a crash left
   * half-done: unfinished creates and destroys, containers without a record, and network
   * pieces of nobody.
   */
  adopt(): Promise<void> {
    return adoptSandboxes(this.core);
  }

  // ---- liveness ----------------------------------------------------------------------------

  /** Goes up whenever a sandbox changes state on its own (see HeartbeatResponse). */
  get stateVersion(): number {
    return this.core.stateVersion;
  }

  private watchTimer?: NodeJS.Timeout;

  /**
   * Notices sandboxes that died on their own (the host's OOM killer takes the whole gVisor
   * sandbox when it exceeds its memory limit) and records why, so callers see an error
   * instead of a sandbox that never answers.
   */
  watch(intervalMs: number): void {
    const tick = async () => {
      for (const inst of [...this.core.instances.values()]) {
        await checkLiveness(this.core, inst).catch((err: Error) =>
          this.core.log.warn(
            { runtimeId: inst.runtimeId, err: err.message },
            "liveness check failed",
          ),
        );
      }
      this.watchTimer = setTimeout(tick, intervalMs);
    };
    this.watchTimer = setTimeout(tick, intervalMs);
  }

  /**
   * Stops background work. Owned sandboxes keep running and are adopted at the next start;
   * pooled ones are removed, as they cost memory and are cheap to boot again.
   */
  async shutdown(): Promise<void> {
    clearTimeout(this.watchTimer);
    for (const entry of await this.core.pool.drain()) {
      await this.core
        .destroyInstance(entry.runtimeId)
        .catch((err: Error) =>
          this.core.log.warn(
            { runtimeId: entry.runtimeId, err: err.message },
            "removing a pooled sandbox failed",
          ),
        );
    }
    for (const inst of this.core.instances.values()) inst.envd?.close();
  }
}
