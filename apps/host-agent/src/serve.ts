import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { lockDataDir } from "@wrenn/process-lock";
import { pino } from "pino";
import { Forwarder } from "./api/forwarder.js";
import { hostAgentRoutes } from "./api/host-agent-service.js";
import { hostReport } from "./api/host-report.js";
import { startListener } from "./api/listener.js";
import { ArtifactCache } from "./artifacts/artifact-cache.js";
import {
  artifactCacheBytes,
  artifactStoreSettings,
  openArtifactStore,
  storeRetrySeconds,
} from "./artifacts/artifact-store-config.js";
import type { AgentConfig } from "./config/agent-config.js";
import { AgentMetrics } from "./metrics/agent-metrics.js";
import { EgressProxy } from "./network/egress/egress-proxy.js";
import { claimNetwork } from "./network/host-claims.js";
import { NetworkManager } from "./network/network-manager.js";
import { ManagedNetworks } from "./network/sandbox-networks.js";
import { ControlPlaneLink } from "./registration/control-plane-link.js";
import { DiskReader } from "./rescue/disk-reader.js";
import { GvisorDriver } from "./runtime/gvisor/driver.js";
import { assembleEnvdRuntime, runtimeLoaderName } from "./runtime/gvisor/envd-runtime.js";
import { RecordStore } from "./sandboxes/record-store.js";
import { SandboxManager } from "./sandboxes/sandbox-manager.js";
import { TemplateSnapshots } from "./sandboxes/template-snapshots.js";
import { hostCpuFeatures } from "./snapshots/cpu-features.js";
import { SandboxHibernator } from "./snapshots/sandbox-hibernator.js";
import { SandboxSnapshotter } from "./snapshots/sandbox-snapshotter.js";
import { SnapshotPublisher } from "./snapshots/snapshot-publisher.js";
import { SnapshotStore } from "./snapshots/snapshot-store.js";
import { TemplateBuilder } from "./templates/builder.js";
import { ImageTemplateBuilder } from "./templates/image-builder.js";
import { StepSandbox } from "./templates/step-sandbox.js";
import type { InstalledTemplate } from "./templates/store.js";
import { TemplateStore } from "./templates/store.js";
import { WireguardTunnels } from "./workspaces/wg-tunnels.js";

/** Memory for one template build step (apt, pip, compilers), beside the sentry's overhead. */
const BUILD_STEP_MEMORY_MB = 4096;

export const AGENT_VERSION = "0.1.0";

/** The agent's host id: `host-` + 8 hex, created once and kept in the data dir. */
async function hostId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "host-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (/^host-[0-9a-f]{8}$/.test(id)) return id;
  } catch {
    // First start.
  }
  const id = `host-${randomBytes(4).toString("hex")}`;
  await writeFile(file, `${id}\n`);
  return id;
}

/** Runs the agent until SIGINT/SIGTERM. Sandboxes outlive it and are adopted at the next start. */
export async function serve(config: AgentConfig): Promise<void> {
  const log = pino({ name: "wrenn-agent", level: config.logLevel });
  if (process.getuid?.() !== 0) {
    throw new Error(
      "wrenn-agent must run as root (it creates network namespaces, mounts and cgroups)",
    );
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // Before anything else is touched: a second agent on this data dir would adopt (and wreck)
  // the first one's sandboxes. The lock dies with the process, however it dies.
  const dataDirLock = await lockDataDir(config.dataDir, {
    file: "wrenn-agent.lock",
    program: "host agent",
    holder: { listen: config.listen },
  });
  // A registered host: its id, and the token the control plane calls it with, come from the
  // registration (kept in the data dir), not from configuration. First, so a refused token
  // stops the agent before it touches anything.
  const link = config.registration
    ? await ControlPlaneLink.open({
        controlPlaneUrl: config.registration.controlPlaneUrl,
        registrationToken: config.registration.token,
        controlPlaneCa: config.registration.controlPlaneCa,
        advertiseUrl: config.registration.advertiseUrl,
        dataDir: config.dataDir,
        log: log.child({ component: "control-plane-link" }),
        graceMs: config.registration.controlPlaneGraceSeconds * 1000,
        onGraceExpired: () => pauseEverySandbox(),
      })
    : undefined;
  // Bound once the sandbox manager exists (the link is opened first, see above).
  let pauseEverySandbox = async (): Promise<void> => {};
  if (link && config.token) {
    log.warn("WRENN_AGENT_TOKEN is ignored: a registered agent takes its host's own token");
  }
  const templates = new TemplateStore(config.templatesDir, config.layerRetention);
  const builder = new TemplateBuilder(templates, config.imagesDir, config.envdDistDir);
  const imageBuilder = new ImageTemplateBuilder(
    templates,
    () => builder.envdVersion(),
    config.insecureRegistries,
    // Build steps run under the same runsc and platform as sandboxes, in their own state dir.
    new StepSandbox({
      runsc: config.runsc,
      stateDir: path.join(config.dataDir, "runsc-steps"),
      bundlesDir: path.join(config.dataDir, "step-bundles"),
      build: () => runtime.build,
      limits: {
        vcpus: Math.min(2, availableParallelism()),
        memoryMb: BUILD_STEP_MEMORY_MB,
        memoryOverheadMb: config.memoryOverheadMb,
        pids: config.pidsLimit,
      },
    }),
    // The manager exists before any build can start (builds come through the listener).
    (t, say, signal) => manager.finalizeTemplate(t, say, signal),
  );
  // envd for templates from images, once per host (content-addressed, shared by agents on
  // this templates dir). Without it the base template still works; image templates refuse.
  const envdRuntime = await assembleEnvdRuntime(path.join(config.templatesDir, ".envd-runtime"), {
    envdDistDir: config.envdDistDir,
  }).then(
    async (r) => ({ ...r, loader: await runtimeLoaderName(r.hostDir) }),
    (err: Error) => {
      log.error(
        { err: err.message },
        "envd runtime not assembled: templates from images will not start",
      );
      return undefined;
    },
  );
  const runtime = new GvisorDriver({
    stateDir: path.join(config.dataDir, "runsc"),
    bundlesDir: path.join(config.dataDir, "bundles"),
    memoryOverheadMb: config.memoryOverheadMb,
    wrapForNetns: (netnsPath, argv) => networks.wrapForNetns(netnsPath, argv),
    runsc: config.runsc,
    platform: config.runscPlatform,
    onWarning: (what, message) => log.warn({ component: "runtime", ...what }, message),
  });
  const build = await runtime.init();
  const runscLog = log.child({ component: "runtime" });
  if (build.fallbackReason) {
    runscLog.warn(
      { runsc: config.runsc, ...build, flags: undefined },
      `runsc uses ptrace: ${build.fallbackReason}`,
    );
  } else {
    runscLog.info({ runsc: config.runsc, ...build, flags: undefined }, "runsc ready");
  }
  // Enforces allowOut's host names (TLS SNI / HTTP Host) and answers those sandboxes' DNS;
  // applies header rules (network.rules).
  const upstreamCa = await readUpstreamCa(config.egressUpstreamCa);
  const egressProxy = await EgressProxy.start({
    upstreamDns: config.egressDns,
    forwardDns: config.egressForwardDns,
    // A sandbox's egressProxy must not be the agent's or the control plane's port on the host.
    reservedPorts: reservedPorts(config),
    upstreamCa,
    logger: log.child({ component: "egress" }),
  });
  const netManager = new NetworkManager({
    egressProxy,
    pool: config.networkPool,
    namePrefix: config.networkPrefix,
    table: config.networkTable,
    stateDir: path.join(config.dataDir, "network"),
    egressAllow: config.egressAllowCidrs,
    dnsServers: config.sandboxDns,
    logger: log.child({ component: "network" }),
  });
  // Machine-wide, before any network is touched: an agent with an overlapping pool, prefix or
  // table would route, adopt or tear down this one's sandboxes (and the reverse).
  const networkClaim = await claimNetwork({
    ...netManager.hostClaim,
    dataDir: config.dataDir,
    listen: config.listen,
  });
  const networks = new ManagedNetworks(netManager);
  let manager!: SandboxManager;
  const metrics = new AgentMetrics(() => manager);
  manager = new SandboxManager(
    {
      defaults: config.defaults,
      poolSize: config.poolSize,
      poolIdleSeconds: config.poolIdleSeconds,
      poolMax: config.poolMax,
      poolRefillBoots: config.poolRefillBoots,
      bootSlots: config.bootSlots,
      templateRestore: config.templateRestore,
      envdRuntime,
      pidsLimit: config.pidsLimit,
      healthTimeoutMs: config.bootTimeoutMs,
      sandboxDns: config.sandboxDns,
      mountRoots: config.mountRoots,
    },
    new RecordStore(path.join(config.dataDir, "sandboxes")),
    runtime,
    networks,
    templates,
    new TemplateSnapshots(path.join(config.dataDir, "template-checkpoints"), runtime.identity),
    log.child({ component: "sandboxes" }),
    metrics,
  );
  await manager.adopt();
  // Reads a failed sandbox's files in a read-only gVisor container over its disk.
  const diskReader = new DiskReader({
    runsc: config.runsc || "runsc",
    stateDir: path.join(config.dataDir, "runsc-rescue"),
    bundlesDir: path.join(config.dataDir, "rescue-bundles"),
    build: () => runtime.build,
    memoryOverheadMb: config.memoryOverheadMb,
    pidsLimit: config.pidsLimit,
    instanceOf: (sandboxId) => manager.instanceOf(sandboxId),
    log: log.child({ component: "disk-reader" }),
  });
  await diskReader.cleanLeftovers();
  manager.onGone((sandboxId) => diskReader.abort(sandboxId));
  // Workspaces' WireGuard endpoints: each up while its sandbox runs, made again at every start.
  const tunnels = new WireguardTunnels({
    ifPrefix: config.networkPrefix,
    dir: path.join(config.dataDir, "wireguard"),
    range: config.wireguardPorts,
    table: `${config.networkTable}_wg`,
    forwardingStateDir: "/run/wrenn/ip-forward",
    addressOf: (sandboxId) => {
      try {
        return manager.target(sandboxId).host;
      } catch {
        return undefined;
      }
    },
    log: log.child({ component: "wireguard" }),
  });
  await tunnels.restore((sandboxId) => manager.list().some((v) => v.sandboxId === sandboxId));
  manager.onGone((sandboxId) => {
    tunnels
      .close(sandboxId)
      .catch((err: Error) => log.error({ sandboxId, err: err.message }, "closing a tunnel failed"));
  });
  const snapshotStore = new SnapshotStore(path.join(config.dataDir, "snapshots"));
  await snapshotStore.removePartial();
  const storeSettings = artifactStoreSettings(process.env, config.dataDir);
  const artifactStore = await openArtifactStore(storeSettings);
  const cpuFeatures = await hostCpuFeatures();
  // Only a shared store makes a snapshot usable elsewhere; a local one would be a second copy.
  const publisher =
    storeSettings.kind === "s3"
      ? new SnapshotPublisher(
          artifactStore,
          snapshotStore,
          cpuFeatures,
          (name) => manager.templateRef(name),
          path.join(config.dataDir, "snapshot-uploads"),
          log.child({ component: "snapshot-store" }),
          storeRetrySeconds(process.env) * 1000,
        )
      : undefined;
  await publisher?.start();
  const snapshots = new SandboxSnapshotter(manager, snapshotStore, runtime, publisher);
  const cacheBytes = artifactCacheBytes(process.env, storeSettings);
  const artifactCache =
    cacheBytes > 0
      ? await ArtifactCache.open(
          path.join(config.dataDir, "artifact-cache"),
          cacheBytes,
          log.child({ component: "artifact-cache" }),
        )
      : undefined;
  const hibernator = new SandboxHibernator(
    manager,
    artifactStore,
    runtime,
    cpuFeatures,
    path.join(config.dataDir, "hibernation"),
    log.child({ component: "hibernation" }),
    artifactCache,
  );
  log.info({ store: artifactStore.description, cacheBytes }, "artifact store");
  // Cheap (no runsc call while a sandbox lives): a death shows within a second.
  manager.watch(500);
  // Without our table sandboxes are not isolated: notice a flushed ruleset or a firewall
  // reload and rebuild it.
  const firewallTimer = setInterval(() => {
    netManager
      .verifyFirewall()
      .then((intact) => {
        if (!intact) log.warn("the firewall table was missing or changed; rebuilt it");
      })
      .catch((err: Error) => log.error({ err: err.message }, "firewall check failed"));
    tunnels.verify().catch((err: Error) => log.error({ err: err.message }, "tunnel check failed"));
  }, 5000);

  // After the template checkpoint exists, pooled sandboxes boot from it too. A stopping agent
  // finishes the checkpoint under way and takes no more (the next start takes them).
  const stopping = new AbortController();
  const prepare = async (list: InstalledTemplate[]) => {
    if (config.templateRestore) {
      for (const t of list) {
        if (stopping.signal.aborted) return;
        await Promise.resolve()
          .then(() => manager.snapshotTemplate(manager.refOf(t), stopping.signal))
          .catch((err: Error) =>
            log.error({ template: t.name, err: err.message }, "template checkpoint failed"),
          );
      }
    }
    manager.pool.maintain(
      list.filter((t) => !t.fromImage || envdRuntime).map((t) => manager.refOf(t)),
    );
  };

  const agentHostId = link?.hostId ?? (await hostId(config.dataDir));
  const instanceId = randomBytes(8).toString("hex");
  const startedAt = new Date(Date.now() - process.uptime() * 1000);

  const forwarder = new Forwarder(manager, log.child({ component: "forwarder" }), () =>
    metrics.forwardErrors.inc(),
  );
  manager.onGone((sandboxId) => forwarder.cut(sandboxId));
  const listener = await startListener({
    listen: config.listen,
    token: link?.agentToken ?? config.token,
    ...(config.tls ? { tls: config.tls } : {}),
    metricsToken: config.metricsToken,
    routes: hostAgentRoutes({
      manager,
      snapshots,
      hibernator,
      templates,
      builder,
      imageBuilder,
      hostId: agentHostId,
      instanceId,
      startedAt,
      version: AGENT_VERSION,
      dataDir: config.dataDir,
      sharedStore: storeSettings.kind === "s3",
      diskReader,
      tunnels,
      onTemplateBuilt: (t) => {
        // A template just built is about to be used: warm it like one in use.
        manager.pool.used(t.name);
        preparing = preparing.then(() => templates.list().then(prepare));
      },
    }),
    forwarder,
    metrics: metrics.registry,
    log,
  });
  let preparing: Promise<void> = templates.list().then(prepare);
  pauseEverySandbox = async () => {
    const failed: string[] = [];
    for (const view of manager.list()) {
      if (view.phase !== "running" || !view.sandboxId) continue;
      try {
        const paused = await manager.pause(view.sandboxId, "checkpoint");
        log.info({ sandboxId: view.sandboxId, mode: paused.pauseMode }, "paused: no control plane");
      } catch (err) {
        // It stopped running meanwhile (destroyed, paused): nothing to do for it.
        if (manager.list().some((v) => v.sandboxId === view.sandboxId && v.phase === "running")) {
          failed.push(view.sandboxId);
          log.warn({ sandboxId: view.sandboxId, err: String(err) }, "pause failed");
        }
      }
    }
    if (failed.length > 0) throw new Error(`could not pause ${failed.join(", ")}`);
  };
  link?.start(config.registration?.heartbeatIntervalMs ?? 5000, async () => {
    const r = await hostReport(manager, config.dataDir);
    return {
      instanceId,
      stateVersion: String(manager.stateVersion),
      startedAt: startedAt.toISOString(),
      hostname: r.hostname,
      version: AGENT_VERSION,
      runtimes: r.runtimes,
      capacity: { total: r.total, used: r.used },
      sandboxesByState: r.sandboxesByState,
      templates: (await templates.list()).map((t) => ({
        name: t.name,
        version: t.version,
        envdVersion: t.envdVersion,
        sizeBytes: t.sizeBytes,
        builtAt: t.builtAt ? new Date(t.builtAt).toISOString() : null,
      })),
    };
  });

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping; sandboxes keep running and are adopted at the next start");
      stopping.abort();
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // For agents started by a test harness or a foreground stack: an agent whose parent died
    // (killed, say) must not live on and fight a successor over the same network names.
    if (process.env.WRENN_AGENT_EXIT_WITH_PARENT === "1") {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) stop("parent exited");
      }, 1000).unref();
    }
  });
  clearInterval(firewallTimer);
  publisher?.stop();
  await link?.stop();
  await listener.close();
  // A template checkpoint being taken holds a sandbox; let it finish and clean up.
  await preparing.catch(() => {});
  await manager.shutdown();
  // Endpoints stop with the agent; the next start brings back those whose sandboxes run.
  await tunnels.shutdown().catch((err: Error) => log.error({ err: err.message }, "tunnels"));
  // Nothing left behind when no sandbox is: sandboxes that live on keep their rules.
  if (await netManager.closeIfUnused()) log.info("no sandbox left; removed the firewall tables");
  await egressProxy.close();
  networkClaim.release();
  dataDirLock.release();
}

/** The agent's API port and, when it joined one, its control plane's (from their addresses). */
function reservedPorts(config: AgentConfig): number[] {
  const ports: number[] = [];
  const own = /:(\d+)$/.exec(config.listen);
  if (own) ports.push(Number(own[1]));
  const cp = config.registration?.controlPlaneUrl;
  if (cp) {
    const u = new URL(cp);
    ports.push(Number(u.port || (u.protocol === "https:" ? 443 : 80)));
  }
  return ports;
}

/** WRENN_EGRESS_UPSTREAM_CA's certificates; a file that cannot be read stops the start. */
async function readUpstreamCa(file: string | undefined): Promise<string[]> {
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(
      `WRENN_EGRESS_UPSTREAM_CA: cannot read ${file} (${(err as NodeJS.ErrnoException).code}); fix the path or unset it`,
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`WRENN_EGRESS_UPSTREAM_CA: ${file} holds no PEM certificate`);
  }
  return [text];
}
