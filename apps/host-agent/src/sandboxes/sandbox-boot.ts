import { checkResources, isSandboxId } from "@wrenn/contract";
import { DENY_ALL, type NetworkPolicy, needsResolver, samePolicy } from "../network/policy.js";
import { imageEnv } from "../templates/image-config.js";
import type { InstalledTemplate } from "../templates/store.js";
import { EGRESS_CA_ENV, installEgressCa } from "./egress-ca-install.js";
import { AgentError } from "./errors.js";
import { Instance } from "./instance.js";
import type { ManagerCore } from "./manager-core.js";
import type { CreateRequest, SandboxView } from "./manager-types.js";
import { resolveMounts, type SandboxMount } from "./mounts.js";
import type { BootPath, Resources } from "./record.js";
import { startTemplateCommand, waitTemplateReady } from "./start-command.js";
import type { TemplateRef } from "./template-snapshots.js";
import type { PoolEntry } from "./warm-pool.js";

// Every way a sandbox comes to be: a warm-pool claim, a template restore, a cold boot, and the
// template checkpoint later boots restore from. Apart from pause/resume and adoption because
// only a new runtime id passes through here.

/** A create's sandbox id is well formed and not taken on this host. */
export function checkNewSandboxId(core: ManagerCore, sandboxId: string): void {
  if (!isSandboxId(sandboxId)) {
    throw new AgentError("invalid_argument", `sandbox id must look like sb-1a2b3c4d`);
  }
  if (core.bySandbox.has(sandboxId)) {
    throw new AgentError("already_exists", `sandbox ${sandboxId} already exists`, "already_exists");
  }
}

export async function createSandbox(core: ManagerCore, req: CreateRequest): Promise<SandboxView> {
  checkNewSandboxId(core, req.sandboxId);
  const resources = resolveResources(core, req.resources);
  const mounts = await resolveMounts(req.mounts ?? [], core.config.mountRoots);
  const template = await core.templates.current(req.template);
  if (!template) {
    throw new AgentError(
      "not_found",
      `template ${req.template} is not built on this host; build it with \`wrenn-agent template build ${req.template}\``,
      "template_not_found",
    );
  }
  const ref = templateRefOf(core, template);
  // Reserve the id at once so a concurrent create of the same id fails fast.
  core.bySandbox.set(req.sandboxId, "");
  const started = performance.now();
  const laps = new Laps();
  try {
    let inst: Instance;
    let bootPath: BootPath;
    // In use, hit or miss: the pool keeps (or starts keeping) its sandboxes warm.
    core.pool.used(ref.name, req.network);
    // Pooled disks have the default size, and a filesystem cannot shrink (growing it online
    // needs CAP_SYS_RESOURCE, which some hosts withhold): other sizes boot their own disk.
    // A checkpoint (a pooled sandbox's or the template's) carries its mount table, so a
    // sandbox with mounts boots cold.
    const poolable = resources.diskMb === core.config.defaults.diskMb && mounts.length === 0;
    const claim = () => (poolable ? core.pool.claim(ref, req.network) : undefined);
    let pooled = claim();
    let release: (() => void) | undefined;
    if (!pooled) {
      // Boots on requests take turns; a warm sandbox ready before this one's turn is taken.
      const turn = await core.bootTurns.take(claim);
      if ("claimed" in turn) pooled = turn.claimed;
      else release = turn.release;
      laps.lap("turn");
    }
    if (pooled) {
      inst = core.instance(pooled.runtimeId);
      bootPath = "warm_pool";
      try {
        await fitResources(core, inst, resources);
      } catch (err) {
        await core.destroyInstance(inst.runtimeId).catch(() => {});
        throw err;
      }
    } else {
      try {
        ({ inst, bootPath } = await boot(core, ref, resources, req.network, mounts, false, laps));
      } finally {
        release?.();
      }
    }
    laps.lap(pooled ? "claim" : "boot");
    try {
      await handToOwner(core, inst, req, bootPath, undefined, laps);
    } catch (err) {
      await core.destroyInstance(inst.runtimeId).catch(() => {});
      throw err;
    }
    core.bySandbox.set(req.sandboxId, inst.runtimeId);
    core.observer.created(bootPath, (performance.now() - started) / 1000);
    core.log.info(
      {
        sandboxId: req.sandboxId,
        runtimeId: inst.runtimeId,
        bootPath,
        ms: Math.round(performance.now() - started),
        steps: laps.ms,
      },
      "sandbox created",
    );
    return core.view(inst);
  } catch (err) {
    core.bySandbox.delete(req.sandboxId);
    throw err instanceof AgentError ? err : new AgentError("internal", (err as Error).message);
  } finally {
    // The pool's next sandbox boots once this create no longer needs the CPU (and then in the
    // background: RuntimeSpec.background), whether it claimed one or missed.
    core.pool.kick();
  }
}

export function resolveResources(core: ManagerCore, r: Partial<Resources>): Resources {
  const out = {
    vcpus: r.vcpus || core.config.defaults.vcpus,
    memoryMb: r.memoryMb || core.config.defaults.memoryMb,
    diskMb: r.diskMb || core.config.defaults.diskMb,
  };
  try {
    return checkResources(out);
  } catch (err) {
    throw new AgentError("invalid_argument", (err as Error).message);
  }
}

/**
 * A pooled sandbox was booted with pool defaults and in the background: give it the requested
 * limits and the CPU share of a sandbox in use.
 */
export async function fitResources(
  core: ManagerCore,
  inst: Instance,
  want: Resources,
): Promise<void> {
  await core.runtime.foreground(inst.runtimeId);
  const have = inst.record.resources;
  if (want.memoryMb !== have.memoryMb || want.vcpus !== have.vcpus) {
    await core.runtime.setLimits(inst.runtimeId, want);
  }
  inst.record.resources = want;
}

/** The claimed or freshly booted sandbox becomes the caller's: policy, /init, identity. */
export async function handToOwner(
  core: ManagerCore,
  inst: Instance,
  req: CreateRequest,
  bootPath: BootPath,
  /** The token envd already holds (a snapshot's), to be allowed to give it a new one. */
  currentToken?: string,
  laps = new Laps(),
): Promise<void> {
  const rec = inst.record;
  // A warm sandbox gets the caller's policy, unless it waited with that one (WarmPool), while
  // envd takes its /init: neither needs the other, and each is tens of milliseconds.
  const policy =
    bootPath === "warm_pool" && !samePolicy(rec.network, req.network)
      ? laps.alongside("policy", core.networks.applyPolicy(inst.runtimeId, req.network))
      : Promise.resolve();
  rec.network = req.network;
  const envd = core.envdOf(inst.runtimeId);
  // An image template's Env, USER and WORKDIR, as `docker run` applies them; the request's
  // own win.
  const image = rec.template.image;
  // A snapshot's envd already holds its source's environment, user and directory: only what
  // the request gives replaces them.
  const restored = bootPath === "snapshot_restore";
  // Header rules: clients that skip the system bundle are pointed at the CA (the request's own
  // variables win).
  const caEnv = req.network.rules ? EGRESS_CA_ENV : {};
  const init = envd.init(
    restored
      ? {
          ...(Object.keys(req.envVars).length > 0 || req.network.rules
            ? { envVars: { ...caEnv, ...req.envVars } }
            : {}),
          accessToken: req.envdAccessToken || undefined,
          ...(req.defaultUser ? { defaultUser: req.defaultUser } : {}),
          ...(req.defaultWorkdir ? { defaultWorkdir: req.defaultWorkdir } : {}),
        }
      : {
          envVars: { ...imageEnv(image), ...caEnv, ...req.envVars },
          accessToken: req.envdAccessToken || undefined,
          defaultUser: req.defaultUser || image?.user || "user",
          defaultWorkdir: req.defaultWorkdir || image?.workdir || undefined,
        },
    currentToken,
  );
  // Both ended before either's failure is thrown: the caller destroys the sandbox next.
  const ended = await Promise.allSettled([policy, laps.alongside("init", init)]);
  for (const e of ended) if (e.status === "rejected") throw e.reason;
  laps.lap("policy+init");
  // The template has no name server: only a sandbox that may reach the internet needs one.
  rec.sandboxId = req.sandboxId;
  rec.metadata = req.metadata;
  rec.envdAccessToken = req.envdAccessToken || undefined;
  if (needsResolver(req.network) && core.config.sandboxDns.length > 0) {
    await core.writeResolver(inst);
  }
  await installEgressCa(core, inst);
  laps.lap("resolver+ca");
  // A sandbox restored from the template's checkpoint has the service up already (the start
  // command ran once, at the build): its ready command is only confirmed.
  if (image?.startCmd && !restored) {
    const token = req.envdAccessToken || undefined;
    if (rec.serviceStarted) await waitTemplateReady(envd, image, token);
    else await startTemplateCommand(envd, image, token);
    laps.lap("service");
  }
  rec.bootPath = bootPath;
  // A power cut loses a new running sandbox's processes with or without this record on disk
  // (RecordStore.save): the create does not wait for the disk.
  await core.setPhase(inst, "running", { syncAfter: true });
  laps.lap("record");
}

/**
 * The milliseconds each step of a create took, in order, for its log line: where a create's
 * time goes, on any host, without a bench.
 */
export class Laps {
  readonly ms: Record<string, number> = {};
  private last = performance.now();

  lap(step: string): void {
    const now = performance.now();
    this.ms[step] = Math.round(now - this.last);
    this.last = now;
  }

  /** Times one of steps that run at once (its own time; the next lap covers them all). */
  async alongside<T>(step: string, work: Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work;
    } finally {
      this.ms[step] = Math.round(performance.now() - start);
    }
  }
}

/** How sandboxes of a built template boot: its root, and envd's runtime when not its own. */
export function templateRefOf(core: ManagerCore, t: InstalledTemplate): TemplateRef {
  const ref: TemplateRef = { name: t.name, version: t.version, rootfs: t.rootfs };
  // A template built on base keeps base's own envd; its steps' config still applies.
  if (t.fromImage === undefined) return t.image ? { ...ref, image: t.image } : ref;
  if (!core.config.envdRuntime) {
    throw new AgentError(
      "failed_precondition",
      `template ${t.name} needs the envd runtime, which this agent could not assemble`,
    );
  }
  return { ...ref, image: t.image, envd: core.config.envdRuntime };
}

/** A warm sandbox, waiting with `network` (PoolEntry.network) or with no network at all. */
export async function bootForPool(
  core: ManagerCore,
  t: TemplateRef,
  network: NetworkPolicy | undefined,
): Promise<PoolEntry> {
  const started = performance.now();
  const laps = new Laps();
  const policy = network ?? DENY_ALL;
  const { inst, bootPath } = await boot(core, t, core.config.defaults, policy, [], true, laps);
  await warmUp(core, inst);
  await core.setPhase(inst, "pooled");
  laps.lap("warm-up");
  core.log.info(
    {
      template: t.name,
      runtimeId: inst.runtimeId,
      bootPath,
      ms: Math.round(performance.now() - started),
      steps: laps.ms,
    },
    "warm sandbox ready",
  );
  return { runtimeId: inst.runtimeId, template: t, network };
}

/** Boots a new sandbox, from the template's checkpoint when there is one, else cold. */
export async function boot(
  core: ManagerCore,
  t: TemplateRef,
  resources: Resources,
  policy: NetworkPolicy,
  mounts: SandboxMount[] = [],
  /** For the warm pool: a small CPU share until claimed (RuntimeSpec.background). */
  background = false,
  laps?: Laps,
): Promise<{ inst: Instance; bootPath: BootPath }> {
  let image =
    core.config.templateRestore && mounts.length === 0 ? await core.snapshots.get(t) : undefined;
  // A checkpoint with the service up brings its disk, of the default size: other sizes boot
  // cold (a filesystem cannot shrink, nor always grow online) and run the start command.
  const disk = image && t.image?.startCmd ? core.snapshots.diskOf(image) : undefined;
  if (disk && resources.diskMb !== core.config.defaults.diskMb) image = undefined;
  if (image && disk) {
    try {
      const inst = await bootFrom(core, t, resources, policy, image, {
        mounts,
        diskFrom: disk,
        background,
        laps,
      });
      // Saved with the next phase change (pooled, running).
      inst.record.serviceStarted = true;
      return { inst, bootPath: "template_restore" };
    } catch (err) {
      // The service's own state is in this checkpoint (its sockets, its files): one that
      // does not restore costs this create a cold boot, which runs the start command.
      core.log.warn(
        { template: t.name, version: t.version, err: (err as Error).message },
        "the template's checkpoint with its service up did not restore; booting cold",
      );
      image = undefined;
    }
  }
  const inst = await bootFrom(core, t, resources, policy, image, { mounts, background, laps });
  return { inst, bootPath: image ? "template_restore" : "cold_boot" };
}

export async function bootFrom(
  core: ManagerCore,
  t: TemplateRef,
  resources: Resources,
  policy: NetworkPolicy,
  image: string | undefined,
  {
    mounts = [],
    diskFrom,
    background = false,
    laps = new Laps(),
  }: {
    mounts?: SandboxMount[];
    /** A disk image to copy (a snapshot's) instead of a new empty disk. */
    diskFrom?: string | undefined;
    /** A warm-pool boot (RuntimeSpec.background). */
    background?: boolean;
    /** Where each step's time goes (a log line's `steps`). */
    laps?: Laps | undefined;
  } = {},
): Promise<Instance> {
  const runtimeId = await core.records.newRuntimeId();
  const now = new Date().toISOString();
  const template = await core.templates.current(t.name);
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
    core.records.dirOf(runtimeId),
  );
  core.instances.set(runtimeId, inst);
  try {
    await core.records.save(inst.record);
    const [lease] = await Promise.all([
      laps.alongside("network", core.networks.setup(runtimeId, policy)),
      diskFrom ? inst.disk.createFrom(diskFrom) : inst.disk.create(resources.diskMb),
    ]);
    inst.lease = lease;
    laps.lap("network+disk");
    const spec = inst.spec(lease.netnsPath, core.config.pidsLimit, background);
    if (image) {
      await core.runtime.resume(runtimeId, { mode: "checkpoint", spec, imageDir: image });
    } else {
      await core.runtime.start(spec);
    }
    laps.lap(image ? "restore" : "start");
    await core.envdOf(runtimeId).waitHealthy(core.config.healthTimeoutMs);
    laps.lap("health");
    return inst;
  } catch (err) {
    await core
      .destroyInstance(runtimeId)
      .catch((e: Error) =>
        core.log.error({ runtimeId, err: e.message }, "cleanup after a failed boot failed"),
      );
    throw err;
  }
}

/** The first command's one-off costs, paid here rather than by a caller (bench/command-path). */
export async function warmUp(core: ManagerCore, inst: Instance): Promise<void> {
  await core
    .envdOf(inst.runtimeId)
    .warmUp()
    .catch((err: Error) =>
      core.log.warn({ runtimeId: inst.runtimeId, err: err.message }, "warm-up failed"),
    );
}
