import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  ContractError,
  checkAgentCreate,
  checkEgressPolicyWire,
  checkRuntimeAvailable,
  checkSnapshotId,
  checkTemplateCacheScope,
  checkTemplateSteps,
  DEFAULT_TEMPLATE,
  ERROR_CODE_HEADER,
  type ErrorCode,
  egressProxyToWire,
  grpcCodeOf,
  isSandboxId,
} from "@wrenn/contract";
import {
  BootPath,
  HostAgentService,
  PauseMode,
  ReadFormat,
  type ReadStoppedFilesRequest,
  SandboxState,
} from "@wrenn/proto/hostagent";
import { withoutRules } from "../network/policy.js";
import type { DiskReader } from "../rescue/disk-reader.js";
import { AgentError, type AgentErrorCode } from "../sandboxes/errors.js";
import type { Phase } from "../sandboxes/record.js";
import type { SandboxManager, SandboxView } from "../sandboxes/sandbox-manager.js";
import type { SandboxHibernator } from "../snapshots/sandbox-hibernator.js";
import type { SandboxSnapshotter } from "../snapshots/sandbox-snapshotter.js";
import type { SnapshotMeta } from "../snapshots/snapshot-store.js";
import type { TemplateBuilder } from "../templates/builder.js";
import { ImageBuildError, type ImageTemplateBuilder } from "../templates/image-builder.js";
import { ImageRootError } from "../templates/image-root.js";
import type { InstalledTemplate, TemplateStore } from "../templates/store.js";
import type { WireguardTunnels } from "../workspaces/wg-tunnels.js";
import { hostReport } from "./host-report.js";

export interface ServiceDeps {
  manager: SandboxManager;
  snapshots: SandboxSnapshotter;
  hibernator: SandboxHibernator;
  templates: TemplateStore;
  builder: TemplateBuilder;
  imageBuilder: ImageTemplateBuilder;
  hostId: string;
  instanceId: string;
  /** When this agent process started (HeartbeatResponse.started_at). */
  startedAt: Date;
  version: string;
  dataDir: string;
  /** Its artifact store is shared with other hosts (s3): its hibernations resume elsewhere. */
  sharedStore: boolean;
  /** Reads the disk of failed sandboxes (ReadStoppedFiles). */
  diskReader: DiskReader;
  /** Workspaces' WireGuard endpoints (Open/CloseWorkspaceTunnel; synced on pause and resume). */
  tunnels: WireguardTunnels;
  /** Called after a template build, so the pool and template checkpoint follow it. */
  onTemplateBuilt: (t: InstalledTemplate) => void;
}

const CODES: Record<AgentErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** The contract code a refusal travels with when the raiser named none. */
const DEFAULT_CONTRACT_CODES: Partial<Record<AgentErrorCode, ErrorCode>> = {
  invalid_argument: "invalid_request",
};

/** A Connect error carrying a contract error code (read by the control plane). */
function withContractCode(message: string, code: Code, contractCode: ErrorCode | undefined) {
  const metadata = contractCode ? { [ERROR_CODE_HEADER]: contractCode } : undefined;
  return new ConnectError(message, code, metadata);
}

/**
 * Agent errors become Connect errors with their code, and with the contract's code when there
 * is one (a broken validation rule, a template not built here, a mount outside the roots), so
 * the control plane answers with that code and a 4xx; anything else is internal.
 */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}

/** guard's mapping, for streams (which cannot be wrapped in one promise). */
function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof ContractError) {
    return withContractCode(err.message, grpcCodeOf(err.code) as Code, err.code);
  }
  if (err instanceof ImageBuildError) {
    return withContractCode(err.message, grpcCodeOf(err.code) as Code, err.code);
  }
  if (err instanceof ImageRootError) {
    return withContractCode(err.message, Code.InvalidArgument, "not_supported");
  }
  if (err instanceof AgentError) {
    const contractCode = err.contractCode ?? DEFAULT_CONTRACT_CODES[err.code];
    return withContractCode(err.message, CODES[err.code], contractCode);
  }
  return new ConnectError((err as Error).message, Code.Internal);
}

const STATES: Record<Phase, SandboxState> = {
  creating: SandboxState.STARTING,
  pooled: SandboxState.STARTING,
  running: SandboxState.RUNNING,
  frozen: SandboxState.PAUSED,
  paused: SandboxState.PAUSED,
  destroying: SandboxState.STOPPED,
  error: SandboxState.ERROR,
};

const BOOT_PATHS = {
  warm_pool: BootPath.WARM_POOL,
  template_restore: BootPath.TEMPLATE_RESTORE,
  cold_boot: BootPath.COLD_BOOT,
  snapshot_restore: BootPath.SNAPSHOT_RESTORE,
};

function snapshotMessage(meta: SnapshotMeta, stored: boolean) {
  return {
    snapshotId: meta.snapshotId,
    sourceSandboxId: meta.sourceSandboxId,
    template: meta.template.name,
    sizeBytes: BigInt(meta.sizeBytes),
    createdAt: timestampFromDate(new Date(meta.createdAt)),
    stored,
  };
}

function sandboxMessageOf(v: SandboxView, tunnelPort: number) {
  return {
    sandboxId: v.sandboxId,
    template: v.template.name,
    state: STATES[v.phase],
    resources: {
      vcpus: v.resources.vcpus,
      memoryMb: v.resources.memoryMb,
      diskMb: v.resources.diskMb,
    },
    metadata: v.metadata,
    // Never the egressProxy's password (a response may be logged or shown); header rules hold
    // resolved secrets: they never leave the agent again.
    network: {
      ...withoutRules(v.network),
      rules: [],
      egressProxy: egressProxyToWire(v.network.egressProxy, false),
    },
    envdVersion: v.envdVersion,
    address: v.address,
    bootPath: BOOT_PATHS[v.bootPath],
    createdAt: timestampFromDate(new Date(v.createdAt)),
    stateChangedAt: timestampFromDate(new Date(v.stateChangedAt)),
    error: v.error ?? "",
    errorReason: v.phase === "error" ? (v.errorReason ?? "failed") : "",
    pauseMode:
      v.pauseMode === "checkpoint"
        ? PauseMode.CHECKPOINT
        : v.pauseMode === "freeze"
          ? PauseMode.FREEZE
          : PauseMode.UNSPECIFIED,
    checkpointBytes: BigInt(v.checkpointBytes ?? 0),
    mounts: v.mounts ?? [],
    runtime: v.runtime,
    tunnelPort,
    networkIncomplete: v.networkIncomplete,
  };
}

function templateMessage(t: InstalledTemplate) {
  return {
    name: t.name,
    version: t.version,
    sizeBytes: BigInt(t.sizeBytes),
    builtAt: timestampFromDate(new Date(t.builtAt)),
    envdVersion: t.envdVersion,
    fromImage: t.fromImage ?? "",
  };
}

function requireId(id: string): string {
  if (!id) throw new ConnectError("sandbox_id is required", Code.InvalidArgument);
  return id;
}

export function hostAgentRoutes(deps: ServiceDeps) {
  const { manager } = deps;
  const sandboxMessage = (v: SandboxView) =>
    sandboxMessageOf(v, deps.tunnels.ports.peek(v.sandboxId ?? "") ?? 0);
  return (router: ConnectRouter) =>
    router.service(HostAgentService, {
      createSandbox: (req) =>
        guard(async () => {
          // The contract's rules, the same ones the control plane and its fake agent run.
          const checked = checkAgentCreate(req);
          checkRuntimeAvailable(checked.runtime, manager.runtimes);
          const fromSnapshot = req.fromSnapshot
            ? await deps.snapshots.artifact(checkSnapshotId(req.fromSnapshot))
            : undefined;
          const view = await manager.create({
            sandboxId: checked.sandboxId,
            template: checked.template,
            resources: checked.resources,
            envVars: checked.envVars,
            metadata: checked.metadata,
            network: checked.network,
            envdAccessToken: req.envdAccessToken,
            defaultUser: req.defaultUser,
            defaultWorkdir: req.defaultWorkdir,
            mounts: checked.mounts,
            ...(fromSnapshot ? { fromSnapshot } : {}),
          });
          return { sandbox: sandboxMessage(view) };
        }),
      destroySandbox: (req) =>
        guard(async () => {
          const id = requireId(req.sandboxId);
          // Not here: it may be hibernated, and its stored copy goes with it.
          if (!manager.has(id) && isSandboxId(id)) await deps.hibernator.forget(id);
          await manager.destroy(id);
          return {};
        }),
      getSandbox: (req) =>
        guard(async () => ({ sandbox: sandboxMessage(manager.get(requireId(req.sandboxId))) })),
      listSandboxes: () => guard(async () => ({ sandboxes: manager.list().map(sandboxMessage) })),
      pauseSandbox: (req) =>
        guard(async () => {
          const mode = req.mode === PauseMode.FREEZE ? "freeze" : "checkpoint";
          const id = requireId(req.sandboxId);
          const paused = await manager.pause(id, mode);
          await deps.tunnels.sync(id);
          return { sandbox: sandboxMessage(paused) };
        }),
      updateSandboxNetwork: (req) =>
        guard(async () => {
          // The contract's rules, as at create (and in the control plane and its fake agent).
          const network = checkEgressPolicyWire(req.network);
          return {
            sandbox: sandboxMessage(await manager.updateNetwork(requireId(req.sandboxId), network)),
          };
        }),
      resumeSandbox: (req) =>
        guard(async () => {
          const id = requireId(req.sandboxId);
          const resumed = await manager.resume(id);
          // Same port and keys as before the pause: the client's config still holds.
          await deps.tunnels.sync(id);
          return { sandbox: sandboxMessage(resumed) };
        }),
      openWorkspaceTunnel: (req) =>
        guard(async () => {
          const id = requireId(req.sandboxId);
          manager.get(id); // an unknown sandbox is not_found, before a port is claimed
          const t = await deps.tunnels.open(id);
          return {
            port: t.port,
            serverPublicKey: t.serverPublicKey,
            clientPrivateKey: t.clientKey,
          };
        }),
      closeWorkspaceTunnel: (req) =>
        guard(async () => {
          await deps.tunnels.close(requireId(req.sandboxId));
          return {};
        }),
      getSandboxStats: (req) =>
        guard(async () => {
          const s = await manager.stats(requireId(req.sandboxId));
          return {
            stats: {
              timestamp: timestampFromDate(s.timestamp),
              cpuCount: s.cpuCount,
              cpuUsedPct: s.cpuUsedPct,
              memUsedBytes: BigInt(s.memUsedBytes),
              memTotalBytes: BigInt(s.memTotalBytes),
              memCacheBytes: BigInt(s.memCacheBytes),
              diskUsedBytes: BigInt(s.diskUsedBytes),
              diskTotalBytes: BigInt(s.diskTotalBytes),
            },
          };
        }),
      hostStatus: () =>
        guard(async () => {
          const r = await hostReport(manager, deps.dataDir);
          return {
            hostId: deps.hostId,
            hostname: r.hostname,
            version: deps.version,
            runtimes: r.runtimes,
            total: {
              vcpus: r.total.vcpus,
              memoryMb: BigInt(r.total.memoryMb),
              diskMb: BigInt(r.total.diskMb),
            },
            used: {
              vcpus: r.used.vcpus,
              memoryMb: BigInt(r.used.memoryMb),
              diskMb: BigInt(r.used.diskMb),
            },
            sandboxesByState: r.sandboxesByState,
            sharedStore: deps.sharedStore,
          };
        }),
      heartbeat: () =>
        guard(async () => ({
          hostId: deps.hostId,
          instanceId: deps.instanceId,
          time: timestampFromDate(new Date()),
          sandboxCount: manager.list().length,
          stateVersion: BigInt(manager.stateVersion),
          startedAt: timestampFromDate(deps.startedAt),
        })),
      listTemplates: () =>
        guard(async () => ({ templates: (await deps.templates.list()).map(templateMessage) })),
      buildTemplate: (req, ctx) => buildStream(deps, req, ctx),
      readStoppedFiles: (req, ctx) => readStoppedFiles(deps, req, ctx),
      snapshotSandbox: (req) =>
        guard(async () => {
          const { meta, stored, sandbox } = await deps.snapshots.take(
            requireId(req.sandboxId),
            checkSnapshotId(req.snapshotId),
          );
          return { snapshot: snapshotMessage(meta, stored), sandbox: sandboxMessage(sandbox) };
        }),
      getSnapshot: (req) =>
        guard(async () => {
          const { meta, stored } = await deps.snapshots.describe(checkSnapshotId(req.snapshotId));
          return { snapshot: snapshotMessage(meta, stored) };
        }),
      hibernateSandbox: (req) =>
        guard(async () => {
          const { storedBytes } = await deps.hibernator.hibernate(requireId(req.sandboxId));
          return { storedBytes: BigInt(storedBytes) };
        }),
      restoreHibernatedSandbox: (req) =>
        guard(async () => ({
          sandbox: sandboxMessage(await deps.hibernator.restore(requireId(req.sandboxId))),
        })),
      deleteSnapshot: (req) =>
        guard(async () => {
          await deps.snapshots.remove(checkSnapshotId(req.snapshotId));
          return {};
        }),
      deleteTemplate: (req) =>
        guard(async () => {
          const t = await deps.templates.current(req.name);
          if (!t) return {};
          if (!t.fromImage && !t.fromTemplate) {
            throw new AgentError(
              "failed_precondition",
              `template ${req.name} is built from images/${req.name}; it is not deleted through the API`,
            );
          }
          const users = deps.manager.usersOf(req.name);
          if (users.length > 0) {
            throw new AgentError(
              "failed_precondition",
              `template ${req.name} is used by sandboxes: ${users.join(", ")}`,
              "template_in_use",
            );
          }
          await deps.manager.dropTemplate(req.name);
          await deps.templates.remove(req.name);
          return {};
        }),
    });
}

/** Streams build progress as it happens, then the built template. */
async function* buildStream(
  deps: ServiceDeps,
  req: {
    name: string;
    force: boolean;
    fromImage: string;
    registryUsername: string;
    registryPassword: string;
    fromTemplate: string;
    steps: Array<{ type: string; args: string[]; files: Uint8Array }>;
    startCmd: string;
    readyCmd: string;
    cacheScope: string;
  },
  ctx: HandlerContext,
) {
  const queue: Array<{ phase: string; message: string }> = [];
  let wake: (() => void) | undefined;
  let done: InstalledTemplate | undefined;
  let failure: unknown;
  let finished = false;
  const onProgress = (p: { phase: string; message: string }) => {
    queue.push(p);
    wake?.();
  };
  const building =
    req.fromImage || req.fromTemplate
      ? guard(() =>
          Promise.resolve().then(() =>
            deps.imageBuilder.build({
              name: req.name,
              image: req.fromImage,
              ...(req.fromTemplate ? { fromTemplate: req.fromTemplate } : {}),
              // The contract's validator again: the agent is root and trusts no caller's steps.
              steps: checkTemplateSteps(
                req.steps.map((st) => ({
                  type: st.type,
                  args: st.args,
                  ...(st.type === "COPY" ? { filesHash: "0".repeat(64) } : {}),
                })),
              ).map((st, i) => {
                const files = req.steps[i]?.files;
                return files && files.length > 0 ? { ...st, files: Buffer.from(files) } : st;
              }),
              ...(req.startCmd ? { startCmd: req.startCmd } : {}),
              ...(req.readyCmd ? { readyCmd: req.readyCmd } : {}),
              // Whose layers it may reuse; empty: none, and none it makes are reused.
              cacheScope: checkTemplateCacheScope(req.cacheScope),
              force: req.force,
              // The control plane's cancel, its time limit, or its going away ends the build.
              signal: ctx.signal,
              credentials: req.registryUsername
                ? { username: req.registryUsername, password: req.registryPassword }
                : undefined,
              onProgress,
            }),
          ),
        )
      : deps.builder.build(req.name || DEFAULT_TEMPLATE, { force: req.force, onProgress });
  void building
    .then(
      (t) => {
        done = t;
      },
      (err: unknown) => {
        failure = err;
      },
    )
    .finally(() => {
      finished = true;
      wake?.();
    });
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  while (!ctx.signal.aborted) {
    while (queue.length > 0) {
      const p = queue.shift()!;
      yield { event: { case: "progress" as const, value: p } };
    }
    if (finished && queue.length === 0) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
  ctx.signal.removeEventListener("abort", onAbort);
  if (failure) {
    if (failure instanceof ConnectError) throw failure;
    throw new ConnectError((failure as Error).message, Code.FailedPrecondition);
  }
  if (done) {
    deps.onTemplateBuilt(done);
    yield { event: { case: "done" as const, value: templateMessage(done) } };
  }
}

/** ReadStoppedFiles: the disk reader's events as messages, its refusals as Connect errors. */
async function* readStoppedFiles(
  deps: ServiceDeps,
  req: ReadStoppedFilesRequest,
  ctx: HandlerContext,
) {
  const format =
    req.format === ReadFormat.FILE ? "file" : req.format === ReadFormat.TAR ? "tar" : undefined;
  if (!format) throw new ConnectError("format must be FILE or TAR", Code.InvalidArgument);
  try {
    const events = deps.diskReader.read(
      requireId(req.sandboxId),
      { path: req.path, format, user: req.user },
      ctx.signal,
    );
    for await (const e of events) {
      yield "header" in e
        ? { event: { case: "header" as const, value: e.header } }
        : { event: { case: "data" as const, value: e.data } };
    }
  } catch (err) {
    throw toConnectError(err);
  }
}
