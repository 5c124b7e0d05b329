import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { checkResources, isSandboxId, type SandboxErrorReason } from "@wrenn/contract";
import type { Logger } from "pino";
import { EnvdClient } from "../envd/envd-client.js";
import type { RuntimeDriver } from "../runtime/driver.js";
import { SandboxDisk } from "../storage/sandbox-disk.js";
import { imageEnv } from "../templates/image-config.js";
import type { InstalledTemplate, TemplateStore } from "../templates/store.js";
import { AgentError } from "./errors.js";
import { Instance } from "./instance.js";
import { KeyedLock } from "./keyed-lock.js";
import { resolveMounts, type SandboxMount } from "./mounts.js";
import type { NetworkLease, SandboxNetworks } from "./network-port.js";
import { type NetworkPolicy, NO_NETWORK } from "./policy.js";
import type { BootPath, Phase, Resources, SandboxRecord } from "./record.js";
import type { RecordStore } from "./record-store.js";
import { startTemplateCommand } from "./start-command.js";
import type { TemplateRef, TemplateSnapshots } from "./template-snapshots.js";
import { type PoolEntry, WarmPool } from "./warm-pool.js";

export interface ManagerConfig {
  defaults: Resources;
  /** Sandboxes kept booted per template, ready to be claimed. */
  poolSize: number;
  /** Keep a booted checkpoint per template and restore it when the pool is empty. */
  templateRestore: boolean;
  /** The host's envd runtime (image templates); undefined when it could not be assembled. */
  envdRuntime?: { hostDir: string; hash: string; loader: string };
  pidsLimit: number;
  healthTimeoutMs: number;
  /** Written to /etc/resolv.conf of sandboxes allowed on the internet. */
  sandboxDns: string[];
  /** Host directories under which mounts are allowed (resolved, absolute). */
  mountRoots: string[];
}

export interface CreateRequest {
  sandboxId: string;
  template: string;
  resources: Partial<Resources>;
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network: NetworkPolicy;
  envdAccessToken?: string;
  defaultUser?: string;
  defaultWorkdir?: string;
  mounts?: SandboxMount[];
}

export interface SandboxView extends SandboxRecord {
  sandboxId: string;
  address: string;
  pauseMode?: "checkpoint" | "freeze";
}

export interface Observer {
  created(path: BootPath, seconds: number): void;
  paused(mode: "checkpoint" | "freeze", seconds: number): void;
  resumed(seconds: number): void;
}

/**
 * Every sandbox of this host: create (warm pool, template restore, cold boot), pause (checkpoint
 * when safe, freeze otherwise), resume, destroy, and adoption of what survived a restart. The
 * state of each sandbox is its record on disk; memory only caches it.
 */
export class SandboxManager {
  private readonly instances = new Map<string, Instance>();
  private readonly bySandbox = new Map<string, string>();
  private readonly leases = new Map<string, NetworkLease>();
  private readonly envd = new Map<string, EnvdClient>();
  private readonly lock = new KeyedLock();
  private readonly cpuSamples = new Map<string, { cpuNanos: number; at: number }>();
  readonly pool: WarmPool;

  constructor(
    private readonly config: ManagerConfig,
    private readonly records: RecordStore,
    private readonly runtime: RuntimeDriver,
    private readonly networks: SandboxNetworks,
    private readonly templates: TemplateStore,
    private readonly snapshots: TemplateSnapshots,
    private readonly log: Logger,
    private readonly observer: Observer,
  ) {
    this.pool = new WarmPool(
      config.poolSize,
      (t) => this.bootForPool(t),
      (rid) => this.destroyInstance(rid),
      log,
    );
  }

  // ---- queries ---------------------------------------------------------------------------

  list(): SandboxView[] {
    // An empty runtime id is a create in flight holding its sandbox id: not a sandbox yet.
    return [...this.bySandbox.values()].filter(Boolean).map((rid) => this.view(this.instance(rid)));
  }

  /** Sandboxes that use a template (any version); warm-pool sandboxes do not count. */
  usersOf(template: string): string[] {
    return [...this.instances.values()]
      .filter((i) => i.record.template.name === template && i.record.sandboxId)
      .map((i) => i.record.sandboxId as string);
  }

  /** Before a template is deleted: its pooled sandboxes and checkpoints go. */
  async dropTemplate(template: string): Promise<void> {
    const pooled = this.pool.forget(template);
    await Promise.all(pooled.map((rid) => this.destroyInstance(rid).catch(() => {})));
    await this.snapshots.removeTemplate(template);
  }

  get(sandboxId: string): SandboxView {
    return this.view(this.bySandboxId(sandboxId));
  }

  /** Where the forwarder sends traffic for a port of a running sandbox. */
  target(sandboxId: string): { host: string } {
    const inst = this.bySandboxId(sandboxId);
    if (inst.record.phase !== "running") {
      throw new AgentError(
        "failed_precondition",
        `sandbox ${sandboxId} is ${inst.record.phase}, not running`,
      );
    }
    const lease = this.leases.get(inst.runtimeId);
    if (!lease) throw new AgentError("unavailable", `sandbox ${sandboxId} has no network`);
    return { host: lease.guestIp };
  }

  async stats(sandboxId: string) {
    const inst = this.bySandboxId(sandboxId);
    if (inst.record.phase !== "running" && inst.record.phase !== "frozen") {
      throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${inst.record.phase}`);
    }
    const [raw, disk] = await Promise.all([this.runtime.stats(inst.runtimeId), inst.disk.usage()]);
    const now = Date.now();
    const prev = this.cpuSamples.get(inst.runtimeId) ?? {
      cpuNanos: 0,
      at: Date.parse(inst.record.stateChangedAt),
    };
    this.cpuSamples.set(inst.runtimeId, { cpuNanos: raw.cpuNanos, at: now });
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
    for (const inst of this.instances.values()) {
      const r = inst.record;
      if (r.sandboxId) out.byPhase[r.phase] = (out.byPhase[r.phase] ?? 0) + 1;
      if (r.phase === "running" || r.phase === "frozen") {
        out.vcpus += r.resources.vcpus;
        out.memoryMb += r.resources.memoryMb;
      }
      out.diskMb += r.resources.diskMb;
    }
    out.byPhase.pooled = this.pool.count();
    return out;
  }

  // ---- create ----------------------------------------------------------------------------

  async create(req: CreateRequest): Promise<SandboxView> {
    if (!isSandboxId(req.sandboxId)) {
      throw new AgentError("invalid_argument", `sandbox id must look like sb-1a2b3c4d`);
    }
    if (this.bySandbox.has(req.sandboxId)) {
      throw new AgentError(
        "already_exists",
        `sandbox ${req.sandboxId} already exists`,
        "already_exists",
      );
    }
    const resources = this.resolveResources(req.resources);
    const mounts = await resolveMounts(req.mounts ?? [], this.config.mountRoots);
    const template = await this.templates.current(req.template);
    if (!template) {
      throw new AgentError(
        "not_found",
        `template ${req.template} is not built on this host; build it with \`wrenn-agent template build ${req.template}\``,
        "template_not_found",
      );
    }
    const ref = this.refOf(template);
    // Reserve the id at once so a concurrent create of the same id fails fast.
    this.bySandbox.set(req.sandboxId, "");
    const started = performance.now();
    try {
      let inst: Instance;
      let bootPath: BootPath;
      // Pooled disks have the default size, and a filesystem cannot shrink (growing it online
      // needs CAP_SYS_RESOURCE, which some hosts withhold): other sizes boot their own disk.
      // A checkpoint (a pooled sandbox's or the template's) carries its mount table, so a
      // sandbox with mounts boots cold.
      const pooled =
        resources.diskMb === this.config.defaults.diskMb && mounts.length === 0
          ? this.pool.claim(ref)
          : undefined;
      if (pooled) {
        this.pool.kick();
        inst = this.instance(pooled.runtimeId);
        bootPath = "warm_pool";
        try {
          await this.fitResources(inst, resources);
        } catch (err) {
          await this.destroyInstance(inst.runtimeId).catch(() => {});
          throw err;
        }
      } else {
        ({ inst, bootPath } = await this.boot(ref, resources, req.network, mounts));
      }
      try {
        await this.personalise(inst, req, bootPath);
      } catch (err) {
        await this.destroyInstance(inst.runtimeId).catch(() => {});
        throw err;
      }
      this.bySandbox.set(req.sandboxId, inst.runtimeId);
      this.observer.created(bootPath, (performance.now() - started) / 1000);
      this.log.info(
        {
          sandboxId: req.sandboxId,
          runtimeId: inst.runtimeId,
          bootPath,
          ms: Math.round(performance.now() - started),
        },
        "sandbox created",
      );
      return this.view(inst);
    } catch (err) {
      this.bySandbox.delete(req.sandboxId);
      throw err instanceof AgentError ? err : new AgentError("internal", (err as Error).message);
    }
  }

  private resolveResources(r: Partial<Resources>): Resources {
    const out = {
      vcpus: r.vcpus || this.config.defaults.vcpus,
      memoryMb: r.memoryMb || this.config.defaults.memoryMb,
      diskMb: r.diskMb || this.config.defaults.diskMb,
    };
    try {
      return checkResources(out);
    } catch (err) {
      throw new AgentError("invalid_argument", (err as Error).message);
    }
  }

  /** A pooled sandbox was booted with pool defaults: give it the requested limits. */
  private async fitResources(inst: Instance, want: Resources): Promise<void> {
    const have = inst.record.resources;
    if (want.memoryMb !== have.memoryMb || want.vcpus !== have.vcpus) {
      await this.runtime.setLimits(inst.runtimeId, want);
    }
    inst.record.resources = want;
  }

  /** The claimed or freshly booted sandbox becomes the caller's: policy, /init, identity. */
  private async personalise(inst: Instance, req: CreateRequest, bootPath: BootPath): Promise<void> {
    const rec = inst.record;
    if (bootPath === "warm_pool") await this.networks.applyPolicy(inst.runtimeId, req.network);
    rec.network = req.network;
    const envd = this.envdOf(inst.runtimeId);
    // An image template's Env, USER and WORKDIR, as `docker run` applies them; the request's
    // own win.
    const image = rec.template.image;
    await envd.init({
      envVars: { ...imageEnv(image), ...req.envVars },
      accessToken: req.envdAccessToken || undefined,
      defaultUser: req.defaultUser || image?.user || "user",
      defaultWorkdir: req.defaultWorkdir || image?.workdir || undefined,
    });
    // The template has no name server: only a sandbox that may reach the internet needs one.
    rec.sandboxId = req.sandboxId;
    rec.metadata = req.metadata;
    rec.envdAccessToken = req.envdAccessToken || undefined;
    if (req.network.allowInternet && this.config.sandboxDns.length > 0) {
      await this.writeResolver(inst);
    }
    if (image?.startCmd) {
      await startTemplateCommand(envd, image, req.envdAccessToken || undefined);
    }
    rec.bootPath = bootPath;
    await this.setPhase(inst, "running");
  }

  /** How sandboxes of a built template boot: its root, and envd's runtime when not its own. */
  refOf(t: InstalledTemplate): TemplateRef {
    const ref: TemplateRef = { name: t.name, version: t.version, rootfs: t.rootfs };
    // A template built on base keeps base's own envd; its steps' config still applies.
    if (t.fromImage === undefined) return t.image ? { ...ref, image: t.image } : ref;
    if (!this.config.envdRuntime) {
      throw new AgentError(
        "failed_precondition",
        `template ${t.name} needs the envd runtime, which this agent could not assemble`,
      );
    }
    return { ...ref, image: t.image, envd: this.config.envdRuntime };
  }

  private async bootForPool(t: TemplateRef): Promise<PoolEntry> {
    const { inst } = await this.boot(t, this.config.defaults, NO_NETWORK);
    await this.warmUp(inst);
    await this.setPhase(inst, "pooled");
    return { runtimeId: inst.runtimeId, template: t };
  }

  /** Boots a new sandbox, from the template's checkpoint when there is one, else cold. */
  private async boot(
    t: TemplateRef,
    resources: Resources,
    policy: NetworkPolicy,
    mounts: SandboxMount[] = [],
  ): Promise<{ inst: Instance; bootPath: BootPath }> {
    const image =
      this.config.templateRestore && mounts.length === 0 ? await this.snapshots.get(t) : undefined;
    const inst = await this.bootFrom(t, resources, policy, image, mounts);
    return { inst, bootPath: image ? "template_restore" : "cold_boot" };
  }

  private async bootFrom(
    t: TemplateRef,
    resources: Resources,
    policy: NetworkPolicy,
    image: string | undefined,
    mounts: SandboxMount[] = [],
  ): Promise<Instance> {
    const runtimeId = await this.records.newRuntimeId();
    const now = new Date().toISOString();
    const template = await this.templates.current(t.name);
    const inst = new Instance(
      {
        runtimeId,
        phase: "creating",
        template: t,
        resources,
        network: policy,
        metadata: {},
        envdVersion: template?.envdVersion ?? "0.0.0",
        bootPath: image ? "template_restore" : "cold_boot",
        createdAt: now,
        stateChangedAt: now,
        tmpOnDisk: true,
        ...(mounts.length > 0 ? { mounts } : {}),
      },
      this.records.dirOf(runtimeId),
    );
    this.instances.set(runtimeId, inst);
    try {
      await this.records.save(inst.record);
      const [lease] = await Promise.all([
        this.networks.setup(runtimeId, policy),
        inst.disk.create(resources.diskMb),
      ]);
      this.leases.set(runtimeId, lease);
      const spec = inst.spec(lease.netnsPath, this.config.pidsLimit);
      if (image) {
        await this.runtime.restore(spec, image);
        await this.runtime.signal(runtimeId, "SIGUSR2");
      } else {
        await this.runtime.start(spec);
      }
      await this.envdOf(runtimeId).waitHealthy(this.config.healthTimeoutMs);
      return inst;
    } catch (err) {
      await this.destroyInstance(runtimeId).catch((e: Error) =>
        this.log.error({ runtimeId, err: e.message }, "cleanup after a failed boot failed"),
      );
      throw err;
    }
  }

  /** Boots the template cold, quiesces envd and saves it: later sandboxes restore this. */
  async snapshotTemplate(t: TemplateRef): Promise<void> {
    if (await this.snapshots.get(t)) return;
    const inst = await this.bootFrom(t, this.config.defaults, NO_NETWORK, undefined);
    try {
      await this.warmUp(inst);
      await this.envdOf(inst.runtimeId).quiesce();
      const scratch = await this.snapshots.scratch(t);
      await this.runtime.checkpoint(inst.runtimeId, scratch);
      await this.snapshots.commit(t, scratch);
      this.log.info({ template: t.name, version: t.version }, "template checkpoint saved");
    } finally {
      await this.destroyInstance(inst.runtimeId);
    }
  }

  /** The first command's one-off costs, paid here rather than by a caller (bench/command-path). */
  private async warmUp(inst: Instance): Promise<void> {
    await this.envdOf(inst.runtimeId)
      .warmUp()
      .catch((err: Error) =>
        this.log.warn({ runtimeId: inst.runtimeId, err: err.message }, "warm-up failed"),
      );
  }

  // ---- pause / resume ----------------------------------------------------------------------

  pause(sandboxId: string, mode: "checkpoint" | "freeze"): Promise<SandboxView> {
    const inst = this.bySandboxId(sandboxId);
    return this.lock.run(inst.runtimeId, async () => {
      const phase = inst.record.phase;
      if (phase === "paused" || phase === "frozen") {
        throw new AgentError("failed_precondition", `sandbox ${sandboxId} is already paused`);
      }
      if (phase !== "running") {
        throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${phase}`);
      }
      const started = performance.now();
      let used: "checkpoint" | "freeze" = mode;
      inst.record.transition = "pausing";
      await this.records.save(inst.record);
      try {
        used = await this.pauseLocked(inst, mode);
      } finally {
        if (inst.record.transition === "pausing") {
          inst.record.transition = undefined;
          await this.records.save(inst.record);
        }
      }
      this.observer.paused(used, (performance.now() - started) / 1000);
      return this.view(inst);
    });
  }

  private async pauseLocked(
    inst: Instance,
    mode: "checkpoint" | "freeze",
  ): Promise<"checkpoint" | "freeze"> {
    const sandboxId = inst.record.sandboxId;
    let used: "checkpoint" | "freeze" = mode;
    if (mode === "checkpoint") {
      const envd = this.envdOf(inst.runtimeId);
      await envd.quiesce(inst.record.envdAccessToken);
      const blockers = [
        ...(await this.runtime.checkpointBlockers(inst.runtimeId)),
        ...(await this.networks.closingConnections(inst.runtimeId)),
      ];
      if (blockers.length > 0) {
        // Saving would fail and kill the sandbox: keep it in memory instead, and say why.
        await this.runtime.signal(inst.runtimeId, "SIGUSR2");
        await envd.waitHealthy(this.config.healthTimeoutMs);
        used = "freeze";
        this.log.info({ sandboxId, blockers }, "TCP endpoints open: pausing in memory instead");
        inst.record.error = undefined;
      } else {
        await rm(inst.checkpointDir, { recursive: true, force: true });
        try {
          await this.runtime.checkpoint(inst.runtimeId, inst.checkpointDir);
        } catch (err) {
          inst.record.error = `checkpoint failed: ${(err as Error).message}`;
          inst.record.errorReason = "failed";
          inst.record.transition = undefined;
          await this.setPhase(inst, "error");
          throw new AgentError("internal", inst.record.error);
        }
        inst.record.checkpointBytes = await dirSize(inst.checkpointDir);
        this.envdOf(inst.runtimeId).close();
        this.envd.delete(inst.runtimeId);
        inst.record.transition = undefined;
        await this.setPhase(inst, "paused");
      }
    }
    if (used === "freeze") {
      await this.runtime.freeze(inst.runtimeId);
      inst.record.transition = undefined;
      await this.setPhase(inst, "frozen");
    }
    return used;
  }

  resume(sandboxId: string): Promise<SandboxView> {
    const inst = this.bySandboxId(sandboxId);
    return this.lock.run(inst.runtimeId, async () => {
      const started = performance.now();
      const phase = inst.record.phase;
      if (phase === "running") return this.view(inst);
      if (phase === "frozen") {
        await this.runtime.thaw(inst.runtimeId);
      } else if (phase === "paused") {
        // A checkpoint of another runsc build must not be restored: refuse, and say why in
        // the sandbox's state (the checkpoint and the files stay for a host that can).
        const refusal = await this.runtime.restoreRefusal(inst.checkpointDir);
        if (refusal) {
          if (inst.record.error !== refusal) {
            inst.record.error = refusal;
            await this.records.save(inst.record);
          }
          throw new AgentError("failed_precondition", `sandbox ${sandboxId}: ${refusal}`);
        }
        await inst.disk.mount();
        const lease = await this.networks.setup(inst.runtimeId, inst.record.network);
        this.leases.set(inst.runtimeId, lease);
        await this.networks.restoreAddress(inst.runtimeId);
        await this.runtime.restore(
          inst.spec(lease.netnsPath, this.config.pidsLimit),
          inst.checkpointDir,
        );
        await this.runtime.signal(inst.runtimeId, "SIGUSR2");
        await this.envdOf(inst.runtimeId).waitHealthy(this.config.healthTimeoutMs);
        await rm(inst.checkpointDir, { recursive: true, force: true });
        inst.record.checkpointBytes = undefined;
        inst.record.error = undefined;
      } else {
        throw new AgentError(
          "failed_precondition",
          `sandbox ${sandboxId} is ${phase}; it cannot be resumed`,
        );
      }
      await this.setPhase(inst, "running");
      this.observer.resumed((performance.now() - started) / 1000);
      return this.view(inst);
    });
  }

  // ---- network -----------------------------------------------------------------------------

  /**
   * Replaces the sandbox's egress policy (validated by the caller with the contract's rules).
   * Running or frozen: the rules change at once and forbidden open connections are cut. Paused:
   * recorded, and applied by the resume's network setup. A sandbox that gains internet access
   * gets the host's name servers, as one created with it does.
   */
  updateNetwork(sandboxId: string, policy: NetworkPolicy): Promise<SandboxView> {
    const inst = this.bySandboxId(sandboxId);
    return this.lock.run(inst.runtimeId, async () => {
      const phase = inst.record.phase;
      if (phase !== "running" && phase !== "frozen" && phase !== "paused") {
        throw new AgentError("failed_precondition", `sandbox ${sandboxId} is ${phase}`);
      }
      inst.record.network = policy;
      await this.records.save(inst.record);
      if (phase !== "paused") await this.networks.applyPolicy(inst.runtimeId, policy);
      if (phase === "running" && policy.allowInternet && this.config.sandboxDns.length > 0) {
        await this.writeResolver(inst);
      }
      return this.view(inst);
    });
  }

  private async writeResolver(inst: Instance): Promise<void> {
    const conf = this.config.sandboxDns.map((ip) => `nameserver ${ip}\n`).join("");
    const token = inst.record.envdAccessToken;
    await this.envdOf(inst.runtimeId).writeFile("/etc/resolv.conf", conf, "root", token);
  }

  // ---- destroy -----------------------------------------------------------------------------

  private readonly goneListeners = new Set<(sandboxId: string) => void>();

  /** Called as soon as a sandbox starts going away for good (before it is stopped). */
  onGone(listener: (sandboxId: string) => void): void {
    this.goneListeners.add(listener);
  }

  /** Idempotent: an unknown sandbox is already gone. */
  async destroy(sandboxId: string): Promise<void> {
    const rid = this.bySandbox.get(sandboxId);
    if (!rid) return;
    await this.lock.run(rid, () => this.destroyInstance(rid));
    this.bySandbox.delete(sandboxId);
  }

  private async destroyInstance(runtimeId: string): Promise<void> {
    const inst = this.instances.get(runtimeId);
    if (inst && inst.record.phase !== "destroying") {
      inst.record.phase = "destroying";
      await this.records.save(inst.record).catch(() => {});
    }
    const goneId = inst?.record.sandboxId;
    if (goneId) for (const listener of this.goneListeners) listener(goneId);
    this.envd.get(runtimeId)?.close();
    this.envd.delete(runtimeId);
    await this.runtime.stop(runtimeId);
    await this.networks.teardown(runtimeId);
    const dir = this.records.dirOf(runtimeId);
    await (inst?.disk ?? new SandboxDisk(dir)).destroy();
    await rm(dir, { recursive: true, force: true });
    this.instances.delete(runtimeId);
    this.leases.delete(runtimeId);
    this.cpuSamples.delete(runtimeId);
    if (inst?.record.sandboxId) this.bySandbox.delete(inst.record.sandboxId);
  }

  // ---- adoption after a restart --------------------------------------------------------------

  /**
   * Brings back every sandbox that survived an agent restart and removes what a crash left
   * half-done: unfinished creates and destroys, containers without a record, and network
   * pieces of nobody.
   */
  async adopt(): Promise<void> {
    await this.snapshots.removePartial();
    const records = await this.records.loadAll();
    const live = new Map((await this.runtime.list()).map((c) => [c.runtimeId, c.status]));
    const keep: string[] = [];
    for (const rec of records) {
      const status = live.get(rec.runtimeId) ?? "absent";
      live.delete(rec.runtimeId);
      const inst = new Instance(rec, this.records.dirOf(rec.runtimeId));
      this.instances.set(rec.runtimeId, inst);
      try {
        const kept = await this.adoptOne(inst, status);
        if (kept) {
          keep.push(rec.runtimeId);
          if (rec.sandboxId) this.bySandbox.set(rec.sandboxId, rec.runtimeId);
        }
      } catch (err) {
        this.log.error(
          { runtimeId: rec.runtimeId, err: (err as Error).message },
          "adoption failed",
        );
        await this.destroyInstance(rec.runtimeId).catch(() => {});
      }
    }
    for (const [runtimeId] of live) {
      this.log.warn({ runtimeId }, "container without a record: stopping it");
      await this.runtime.stop(runtimeId).catch(() => {});
    }
    await this.networks.reconcile(keep);
    this.log.info({ adopted: keep.length }, "adoption finished");
  }

  private async adoptOne(inst: Instance, status: string): Promise<boolean> {
    const rec = inst.record;
    const dead = (why: string, reason: SandboxErrorReason = "crashed") => {
      rec.error = why;
      rec.errorReason = reason;
      return this.setPhase(inst, "error").then(() => true);
    };
    if (rec.transition === "pausing") return this.settleInterruptedPause(inst, status, dead);
    switch (rec.phase) {
      case "creating":
      case "destroying":
        await this.destroyInstance(rec.runtimeId);
        return false;
      case "pooled":
      case "running":
      case "frozen": {
        if (status === "absent" || status === "stopped") {
          if (rec.phase === "pooled") {
            await this.destroyInstance(rec.runtimeId);
            return false;
          }
          await inst.disk.mount();
          const reason = await this.runtime
            .exitReason(rec.runtimeId)
            .catch(() => "crashed" as const);
          return dead(
            `${DEATH_MESSAGES[reason]} while the agent was away; its files are kept`,
            reason,
          );
        }
        this.leases.set(rec.runtimeId, await this.networks.setup(rec.runtimeId, rec.network));
        if (status === "paused" && rec.phase !== "frozen") await this.setPhase(inst, "frozen");
        if (rec.phase === "pooled") {
          this.pool.add({ runtimeId: rec.runtimeId, template: rec.template });
        }
        return true;
      }
      case "paused": {
        await inst.disk.mount();
        this.leases.set(rec.runtimeId, await this.networks.setup(rec.runtimeId, rec.network));
        // The runsc may have changed while the agent was away: the state says so at once,
        // and says nothing once a runsc that can restore it is back.
        const refusal = await this.runtime.restoreRefusal(inst.checkpointDir);
        if ((refusal ?? undefined) !== rec.error) {
          rec.error = refusal;
          await this.records.save(rec);
        }
        return true;
      }
      case "error":
        await inst.disk.mount().catch(() => {});
        return true;
    }
  }

  /**
   * The previous agent died while pausing this sandbox. What is really there decides: a
   * complete checkpoint is a paused sandbox, a container still there is resumed in place
   * (thawed, and envd told to listen again in case it had been quiesced), anything else is an
   * error that says so.
   */
  private async settleInterruptedPause(
    inst: Instance,
    status: string,
    dead: (why: string, reason: SandboxErrorReason) => Promise<boolean>,
  ): Promise<boolean> {
    const rec = inst.record;
    rec.transition = undefined;
    this.log.warn(
      { sandboxId: rec.sandboxId, status },
      "settling a pause the agent did not finish",
    );
    await inst.disk.mount();
    if (status === "running" || status === "paused") {
      const lease = await this.networks.setup(rec.runtimeId, rec.network);
      this.leases.set(rec.runtimeId, lease);
      if (status === "paused") await this.runtime.thaw(rec.runtimeId);
      await this.runtime.signal(rec.runtimeId, "SIGUSR2");
      await this.envdOf(rec.runtimeId).waitHealthy(this.config.healthTimeoutMs);
      await this.setPhase(inst, "running");
      return true;
    }
    if ((await this.runtime.checkpointOutcome(rec.runtimeId, inst.checkpointDir)) === "complete") {
      rec.checkpointBytes = await dirSize(inst.checkpointDir);
      this.leases.set(rec.runtimeId, await this.networks.setup(rec.runtimeId, rec.network));
      await this.setPhase(inst, "paused");
      return true;
    }
    return dead(
      "the agent stopped during a pause and no complete checkpoint was left; its files are kept",
      "interrupted",
    );
  }

  // ---- liveness ----------------------------------------------------------------------------

  #stateVersion = 0;

  /** Goes up whenever a sandbox changes state on its own (see HeartbeatResponse). */
  get stateVersion(): number {
    return this.#stateVersion;
  }

  private watchTimer?: NodeJS.Timeout;

  /**
   * Notices sandboxes that died on their own (the host's OOM killer takes the whole gVisor
   * sandbox when it exceeds its memory limit) and records why, so callers see an error
   * instead of a sandbox that never answers.
   */
  watch(intervalMs: number): void {
    const tick = async () => {
      for (const inst of [...this.instances.values()]) {
        await this.check(inst).catch((err: Error) =>
          this.log.warn({ runtimeId: inst.runtimeId, err: err.message }, "liveness check failed"),
        );
      }
      this.watchTimer = setTimeout(tick, intervalMs);
    };
    this.watchTimer = setTimeout(tick, intervalMs);
  }

  private async check(inst: Instance): Promise<void> {
    const phase = inst.record.phase;
    if (phase !== "running" && phase !== "frozen" && phase !== "pooled") return;
    // An operation in progress (a pause stops the sandbox's process on purpose) settles it.
    if (this.lock.busy(inst.runtimeId)) return;
    if (await this.runtime.alive(inst.runtimeId)) return;
    await this.lock.run(inst.runtimeId, async () => {
      // An operation may have finished since: ask again.
      if (inst.record.phase !== phase) return;
      const now = await this.runtime.status(inst.runtimeId);
      if (now === "running" || now === "paused") return;
      if (phase === "pooled") {
        this.log.warn({ runtimeId: inst.runtimeId }, "pooled sandbox died; replacing it");
        this.pool.remove(inst.runtimeId);
        await this.destroyInstance(inst.runtimeId);
        this.pool.kick();
        return;
      }
      const reason = await this.runtime.exitReason(inst.runtimeId).catch(() => "crashed" as const);
      inst.record.errorReason = reason;
      inst.record.error = `${DEATH_MESSAGES[reason]}; its files are kept`;
      this.log.warn({ sandboxId: inst.record.sandboxId, reason }, inst.record.error);
      await this.setPhase(inst, "error");
      this.#stateVersion++;
    });
  }

  // ---- internals ---------------------------------------------------------------------------

  private instance(runtimeId: string): Instance {
    const inst = this.instances.get(runtimeId);
    if (!inst) throw new AgentError("not_found", `no sandbox with runtime id ${runtimeId}`);
    return inst;
  }

  private bySandboxId(sandboxId: string): Instance {
    const rid = this.bySandbox.get(sandboxId);
    if (!rid) throw new AgentError("not_found", `sandbox ${sandboxId} not found on this host`);
    return this.instance(rid);
  }

  private envdOf(runtimeId: string): EnvdClient {
    let client = this.envd.get(runtimeId);
    if (!client) {
      const lease = this.leases.get(runtimeId);
      if (!lease) throw new AgentError("unavailable", `sandbox ${runtimeId} has no network`);
      client = new EnvdClient(lease.guestIp);
      this.envd.set(runtimeId, client);
    }
    return client;
  }

  private async setPhase(inst: Instance, phase: Phase): Promise<void> {
    inst.record.phase = phase;
    inst.record.stateChangedAt = new Date().toISOString();
    await this.records.save(inst.record);
  }

  private view(inst: Instance): SandboxView {
    const r = inst.record;
    return {
      ...r,
      sandboxId: r.sandboxId ?? "",
      address: this.leases.get(r.runtimeId)?.guestIp ?? "",
      pauseMode: r.phase === "paused" ? "checkpoint" : r.phase === "frozen" ? "freeze" : undefined,
    };
  }

  /**
   * Stops background work. Owned sandboxes keep running and are adopted at the next start;
   * pooled ones are removed, as they cost memory and are cheap to boot again.
   */
  async shutdown(): Promise<void> {
    clearTimeout(this.watchTimer);
    for (const entry of await this.pool.drain()) {
      await this.destroyInstance(entry.runtimeId).catch((err: Error) =>
        this.log.warn(
          { runtimeId: entry.runtimeId, err: err.message },
          "removing a pooled sandbox failed",
        ),
      );
    }
    for (const c of this.envd.values()) c.close();
  }
}

const DEATH_MESSAGES = {
  oom: "the sandbox ran out of memory and its runtime was killed",
  pids: "the sandbox reached its task limit and its runtime crashed",
  crashed: "the sandbox stopped unexpectedly",
} as const;

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += (await stat(path.join(dir, name))).size;
  }
  return total;
}
