import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { type DestinationStream, type Logger, pino } from "pino";
import { startGrpcListener } from "./api/grpc-listener.js";
import { buildServer } from "./api/server.js";
import { ExecService } from "./commands/exec-service.js";
import type { ControlPlaneConfig } from "./config/config.js";
import type { Database } from "./db/database.js";
import { loadMigrations, migrateUp, SCHEMA_LOCK_KEY } from "./db/migrations.js";
import { openDatabase } from "./db/open-database.js";
import { EnvdGateway } from "./envd/envd-session.js";
import { FileService } from "./files/file-service.js";
import { HostEnrollment } from "./hosts/host-enrollment.js";
import { HostJwt } from "./hosts/host-jwt.js";
import { HostMonitor } from "./hosts/host-monitor.js";
import { HostRegistry } from "./hosts/host-registry.js";
import { LifecycleManager } from "./lifecycle/lifecycle-manager.js";
import { type ReconcileReport, reconcileHost } from "./lifecycle/reconciler.js";
import { PreviewDomain } from "./proxy/preview-domain.js";
import { SandboxProxy } from "./proxy/sandbox-proxy.js";
import { FleetScheduler, policyFor } from "./scheduler/fleet-scheduler.js";
import type { Scheduler } from "./scheduler/scheduler.js";
import { SingleHostScheduler } from "./scheduler/single-host-scheduler.js";
import { loadSecretKey } from "./secrets/secret-key.js";
import { SecretService } from "./secrets/secret-service.js";
import { TokenCipher } from "./secrets/token-cipher.js";
import { ApiKeyService, bootstrapAdminKey } from "./service/api-key-service.js";
import { AuditLog } from "./service/audit-log.js";
import { HostService } from "./service/host-service.js";
import { SANDBOX_DEFAULTS } from "./service/limits.js";
import { DEFAULT_DEADLINES, SandboxService } from "./service/sandbox-service.js";
import type { SecretResolver } from "./service/secret-resolver.js";
import { SnapshotService } from "./service/snapshot-service.js";
import { DEFAULT_TEMPLATE_BUILD_LIMITS, TemplateService } from "./service/template-service.js";
import { markHostSandboxesMissing } from "./store/host-sandboxes-store.js";
import { VERSION } from "./version.js";
import { HOSTD_PATH_PREFIX, hostdHandler } from "./workspaces/hostd-service.js";
import { SshKeyService } from "./workspaces/ssh-key-service.js";
import { SshTunnels } from "./workspaces/ssh-tunnels.js";
import { WorkspaceService } from "./workspaces/workspace-service.js";
import { WorkspaceSshd } from "./workspaces/workspace-sshd.js";

export interface ControlPlane {
  /** http://host:port the API answers on (the real port when 0 was asked). */
  url: string;
  /** Where sandbox ports are reached, `<port>-<id>.<previewDomain>` (E2B's getHost). */
  previewDomain: string;
  /** Whether sandboxes that ask for nothing get internet access (WRENN_DEFAULT_INTERNET). */
  defaultInternet: boolean;
  /** The generated first admin key, on the start that created it; print it once. */
  bootstrapApiKey?: string;
  controlPlaneId: string;
  localHostId: string;
  db: Database;
  app: FastifyInstance;
  sandboxes: SandboxService;
  keys: ApiKeyService;
  hosts: HostService;
  workspaces: WorkspaceService;
  /** Owners' secrets; resolvePlaceholders fills `${e2b.secrets.NAME}` for the egress path. */
  secrets: SecretService;
  enrollment: HostEnrollment;
  exec: ExecService;
  files: FileService;
  registry: HostRegistry;
  /** Where sandboxes and template builds go (the fleet's, or the one configured host's). */
  scheduler: Scheduler;
  monitor: HostMonitor;
  lifecycle: LifecycleManager;
  /** Compares the host's sandboxes with the database and fixes the database (see reconciler). */
  reconcile(hostId?: string): Promise<ReconcileReport>;
  close(): Promise<void>;
  /**
   * WRENN_GRPC_LISTEN's address once listening (`host:port`), when set: gRPC there as on the
   * main address (url), which serves it too.
   */
  grpcAddress?: string;
}

export interface StartOptions {
  /** Defaults to a pino logger at config.logLevel with API keys and tokens redacted. */
  logger?: Logger;
  /**
   * Fills network.rules' `${e2b.secrets.NAME}` placeholders. Unset: the owner's /secrets.
   */
  secrets?: SecretResolver;
}

/** A pino logger with API keys and tokens redacted; to stdout unless a destination is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: [
        'req.headers["x-api-key"]',
        "req.headers.authorization",
        'req.headers["x-access-token"]',
        'req.headers["wrenn-agent-token"]',
        "key",
        "apiKey",
        "envdAccessToken",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export async function startControlPlane(
  config: ControlPlaneConfig,
  options: StartOptions = {},
): Promise<ControlPlane> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const controlPlaneId = `cp-${randomBytes(4).toString("hex")}`;
  const deadlines = { ...DEFAULT_DEADLINES, ...config.operationDeadlines };
  await mkdir(config.dataDir, { recursive: true });
  const secretKey = await loadSecretKey(config.secretKey, config.dataDir);
  const cipher = new TokenCipher(secretKey);
  const db = await openDatabase(config);
  const cleanups: (() => Promise<void>)[] = [() => db.close()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((error) => logger.error({ err: error }, "shutdown step failed"));
  };

  try {
    const migrations = await loadMigrations(config.migrationsDir);
    const { bootstrap, applied } = await db.withExclusiveLock(SCHEMA_LOCK_KEY, async (session) => {
      const report = await migrateUp(session, migrations);
      return {
        applied: report.applied,
        bootstrap: await bootstrapAdminKey(session, config.apiKey, logger),
      };
    });
    logger.info({ database: db.kind, applied }, "database ready");
    if (db.kind === "postgres" && !config.secretKey) {
      logger.warn(
        "DATABASE_URL is set but WRENN_SECRET_KEY is not: envd tokens are sealed with a key from this control plane's data directory, so other control planes on this database cannot read them; give every control plane the same WRENN_SECRET_KEY",
      );
    }

    const audit = new AuditLog(db, logger);
    const registry = new HostRegistry(db, cipher, config.agentCa);
    const localHost = await registry.register(config.agentUrl, config.agentToken);
    await registry.sync();
    const keys = new ApiKeyService(db, audit);

    // The monitor and the sandbox service need each other (reconcile on contact); the late
    // binding below closes that loop without a global.
    let reconcile: (hostId: string, agentStartedAt?: Date) => Promise<ReconcileReport> =
      async () => {
        throw new Error("control plane still starting");
      };
    const monitor = new HostMonitor({
      db,
      registry,
      controlPlaneId,
      logger,
      onHostReachable: async (hostId, agentStartedAt) => {
        await reconcile(hostId, agentStartedAt);
      },
      silenceSeconds: config.hostSilenceSeconds,
      onHostLost: async (hostId) => {
        const ids = await markHostSandboxesMissing(db, hostId);
        logger.warn({ hostId, ids }, "sandboxes marked missing");
      },
    });
    const scheduler = new FleetScheduler(
      db,
      registry,
      new SingleHostScheduler(db, registry, monitor, localHost.id),
      policyFor(config.schedulerPolicy ?? "least-loaded", config.schedulerSampleK ?? 2),
    );
    const templates = new TemplateService({
      db,
      scheduler,
      registry,
      logger: logger.child({ component: "templates" }),
      filesDir: path.join(config.dataDir, "template-files"),
      follower: controlPlaneId,
      limits: {
        timeoutSeconds:
          config.templateBuildTimeoutSeconds ?? DEFAULT_TEMPLATE_BUILD_LIMITS.timeoutSeconds,
        perOwner: config.templateBuildsPerOwner ?? DEFAULT_TEMPLATE_BUILD_LIMITS.perOwner,
      },
    });
    // Builds a control plane that died left "building": closed before anyone reads them.
    await templates.sweep.sweep();
    const secrets = new SecretService({ db, cipher, audit, enabled: config.secrets ?? true });
    const sandboxes = new SandboxService({
      templates,
      db,
      scheduler,
      registry,
      cipher,
      audit,
      logger,
      defaults: { ...SANDBOX_DEFAULTS, allowInternet: config.defaultInternet ?? false },
      deadlines,
      failedCreateVisibleSeconds: config.failedCreateVisibleSeconds,
      // network.rules' placeholders are filled from the owner's /secrets (tests may pass
      // their own store).
      secrets: options.secrets ?? {
        resolveAll: (ownerId, texts) => secrets.resolveAll(ownerId, texts),
      },
    });
    // A rotated secret reaches the running sandboxes whose rules name it at once.
    secrets.onValueChanged(async (ownerId, name) => {
      await sandboxes.secretChanged(ownerId, name);
    });
    const snapshots = new SnapshotService({
      db,
      registry,
      sandboxes,
      logger: logger.child({ component: "snapshots" }),
    });
    reconcile = (hostId, agentStartedAt) =>
      reconcileHost({ db, registry, sandboxes, logger }, hostId, { agentStartedAt });
    const hosts = new HostService({
      db,
      registry,
      monitor,
      keys,
      sandboxes,
      audit,
      logger: logger.child({ component: "hosts" }),
      stopDeadlineSeconds: deadlines.stop,
    });
    const enrollment = new HostEnrollment({
      db,
      keys,
      cipher,
      jwt: new HostJwt(secretKey),
      registry,
      monitor,
      logger: logger.child({ component: "hosts" }),
      lifetimes: config.hostTokenLifetimes,
    });
    const lifecycle = new LifecycleManager({
      db,
      sandboxes,
      logger,
      deadlines,
      ...(config.autoHibernateSeconds ? { autoHibernateSeconds: config.autoHibernateSeconds } : {}),
    });
    const gateway = new EnvdGateway(sandboxes);
    const exec = new ExecService(gateway, audit, logger.child({ component: "exec" }));
    const files = new FileService(gateway, audit);
    const domain = new PreviewDomain(config.domain);
    const proxy = new SandboxProxy({
      sandboxes,
      keys,
      audit,
      logger: logger.child({ component: "proxy" }),
      domain,
      traceAll: process.env.WRENN_TRACE === "1",
    });

    const sshKeys = new SshKeyService(db, audit);
    const sshd = new WorkspaceSshd(exec, sshKeys, logger.child({ component: "sshd" }));
    const workspaces = new WorkspaceService({
      db,
      sandboxes,
      registry,
      defaultImage: SANDBOX_DEFAULTS.template,
      hostKeys: sshd,
      logger: logger.child({ component: "workspaces" }),
    });
    const sshTunnels = new SshTunnels({ workspaces, sandboxes, sshd, audit });
    cleanups.push(async () => sshTunnels.closeAll());
    const rpc = {
      prefix: HOSTD_PATH_PREFIX,
      handler: hostdHandler({ workspaces, keys, logger: logger.child({ component: "hostd" }) }),
    };
    const app = await buildServer({
      audit,
      logger,
      version: VERSION,
      sandboxes,
      snapshots,
      keys,
      hosts,
      enrollment,
      exec,
      files,
      templates,
      domain,
      proxy,
      admin: { secretKey },
      metricsToken: config.metricsToken,
      workspaces,
      sshKeys,
      sshTunnels,
      secrets,
      ...(config.tls ? { tls: config.tls } : {}),
      rpc,
    });
    cleanups.push(() => app.close());
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    domain.listeningOn(port);
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const scheme = config.tls ? "https" : "http";
    const url = `${scheme}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
    let grpcAddress: string | undefined;
    if (config.grpc) {
      const grpc = await startGrpcListener({
        ...config.grpc,
        tls: config.tls,
        rpc,
        logger: logger.child({ component: "grpc" }),
      });
      // Closed before the API (cleanups run last first): its calls use the services.
      cleanups.push(() => grpc.close());
      grpcAddress = grpc.address;
    }

    if (config.backgroundLoops) {
      monitor.start(config.hostMonitorIntervalMs);
      lifecycle.start(config.lifecycleIntervalMs);
      templates.sweep.start();
      cleanups.push(
        () => monitor.stop(),
        () => lifecycle.stop(),
        () => templates.sweep.stop(),
      );
    }
    logger.info(
      { url, grpcAddress, controlPlaneId, hostId: localHost.id, agentUrl: config.agentUrl },
      "control plane listening",
    );

    let closed: Promise<void> | undefined;
    return {
      url,
      ...(grpcAddress ? { grpcAddress } : {}),
      previewDomain: domain.name ?? `localhost:${port}`,
      defaultInternet: config.defaultInternet ?? false,
      bootstrapApiKey: bootstrap.generatedKey,
      controlPlaneId,
      localHostId: localHost.id,
      db,
      app,
      sandboxes,
      keys,
      hosts,
      enrollment,
      exec,
      files,
      workspaces,
      secrets,
      registry,
      scheduler,
      monitor,
      lifecycle,
      reconcile: (hostId = localHost.id) => reconcile(hostId),
      close() {
        closed ??= cleanup();
        return closed;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
