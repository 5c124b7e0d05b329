// TEST DOUBLE. An in-process HostAgentService over real Connect/HTTP with in-memory
// sandboxes, so control-plane tests exercise the real Connect client, serialisation and error
// codes without root or runsc. It runs nothing, but it accepts exactly the creates wrenn-agent
// accepts: both run the contract's checkAgentCreate, and tests/host-agent/create-contract.test.ts
// runs one table of creates against both.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  ContractError,
  checkAgentCreate,
  checkEgressPolicyWire,
  checkRuntimeAvailable,
  checkStoppedFilesRead,
  checkTemplateCacheScope,
  ERROR_CODE_HEADER,
  type ErrorCode,
  grpcCodeOf,
  isSnapshotId,
} from "@wrenn/contract";
import {
  type BuildTemplateRequest,
  HostAgentService,
  type Sandbox as ProtoSandbox,
  ReadFormat,
  type ReadStoppedFilesRequest,
  SandboxSchema,
  SandboxState,
} from "@wrenn/proto/hostagent";
import type { AgentCreateRequest } from "../hosts/host-client.js";

/** A sandbox the fake holds: what the create asked for, and its state. */
export interface FakeSandbox
  extends Pick<
    AgentCreateRequest,
    | "template"
    | "vcpus"
    | "memoryMb"
    | "diskMb"
    | "envVars"
    | "metadata"
    | "allowInternet"
    | "allowOut"
    | "denyOut"
    | "egressProxy"
    | "rules"
    | "envdAccessToken"
  > {
  id: string;
  state: SandboxState;
  error: string;
  errorReason?: string;
  /**
   * Sandbox paths of host directories it has mounted: the fake refuses mounts on create (it
   * has no mount roots), so a test sets this to stand for a sandbox an admin made on a real host.
   */
  mounts?: string[];
  /**
   * Its disk, for ReadStoppedFiles: absolute path → bytes. The fake reads only what a test put
   * here, and only as files (it makes no archives).
   */
  files?: Record<string, Buffer>;
}

type Method =
  | "createSandbox"
  | "destroySandbox"
  | "getSandbox"
  | "listSandboxes"
  | "pauseSandbox"
  | "resumeSandbox"
  | "hibernateSandbox"
  | "restoreHibernatedSandbox"
  | "updateSandboxNetwork"
  | "getSandboxStats"
  | "hostStatus"
  | "heartbeat"
  | "listTemplates"
  | "deleteTemplate"
  | "readStoppedFiles";

export interface FakeHostAgentOptions {
  token?: string;
  templates?: string[];
  envdVersion?: string;
  memoryMb?: number;
  diskMb?: number;
}

/** The fake's one runtime driver, reported and checked as wrenn-agent does its own. */
const FAKE_RUNTIMES = ["fake"] as const;

/** A refusal as wrenn-agent sends it: a Connect code and the contract's code in a header. */
function refusal(code: ErrorCode, message: string): ConnectError {
  return new ConnectError(message, grpcCodeOf(code) as Code, { [ERROR_CODE_HEADER]: code });
}

/**
 * A create's refusals in wrenn-agent's order: its service runs checkAgentCreate and
 * checkRuntimeAvailable, then its
 * manager refuses a taken id, mounts when it has no mount roots (the fake has none, like an
 * agent without WRENN_MOUNT_ROOTS), then a template it has not built.
 */
function checkCreate(
  req: Parameters<typeof checkAgentCreate>[0] & { fromSnapshot?: string },
  templates: string[],
  taken: (id: string) => boolean,
) {
  let checked: ReturnType<typeof checkAgentCreate>;
  try {
    checked = checkAgentCreate(req);
    checkRuntimeAvailable(checked.runtime, FAKE_RUNTIMES);
  } catch (err) {
    if (err instanceof ContractError) throw refusal(err.code, err.message);
    throw err;
  }
  // The fake holds no snapshot: the agent checks the id, then finds none.
  if (req.fromSnapshot) {
    if (!isSnapshotId(req.fromSnapshot)) {
      throw refusal("invalid_request", "snapshot id must look like snap-1a2b3c4d");
    }
    throw refusal("snapshot_not_found", `snapshot ${req.fromSnapshot} is not on this host`);
  }
  if (taken(checked.sandboxId)) {
    throw refusal("already_exists", `sandbox ${checked.sandboxId} already exists`);
  }
  if (checked.mounts.length > 0) {
    throw refusal("mount_not_allowed", "this host agent mounts no host directories");
  }
  if (!templates.includes(checked.template)) {
    throw refusal("template_not_found", `template ${checked.template} is not built on this host`);
  }
  return checked;
}

export class FakeHostAgent {
  readonly sandboxes = new Map<string, FakeSandbox>();
  /** Sandboxes hibernated through this fake: its stand-in for the artifact store. */
  readonly hibernated = new Map<string, FakeSandbox>();
  readonly calls: { method: Method; sandboxId?: string }[] = [];
  templates: string[];
  envdVersion: string;
  instanceId = randomBytes(4).toString("hex");
  startedAt = new Date();
  /** HeartbeatResponse.state_version: bump it when a sandbox changes state on its own. */
  stateVersion = 0n;
  hostId = `host-${randomBytes(4).toString("hex")}`;
  memoryMb: number;
  diskMb: number;
  /**
   * Bytes each template takes, as listTemplates reports them (1 when unset). A build is done
   * only when `buildSizeBytes` is set: it "builds" a template of that size and nothing else
   * (no steps run), so the control plane's record of a finished build can be tested.
   */
  readonly templateSizes = new Map<string, number>();
  buildSizeBytes: number | undefined;
  /** The progress line a build reports (what the owner's steps print: hostile text). */
  buildMessage = "fake";
  private failures = new Map<Method, { code: Code; message: string; times: number }>();
  private gates = new Map<Method, Promise<void>>();
  private replyGates = new Map<Method, Promise<void>>();
  private server: Server | undefined;
  url = "";

  constructor(private readonly options: FakeHostAgentOptions = {}) {
    this.templates = options.templates ?? ["base"];
    this.envdVersion = options.envdVersion ?? "0.6.13";
    this.memoryMb = options.memoryMb ?? 65_536;
    this.diskMb = options.diskMb ?? 1_048_576;
  }

  /** The next `times` calls of `method` fail with `code`. */
  failNext(method: Method, code: Code, times = 1, message = "injected failure"): void {
    this.failures.set(method, { code, message, times });
  }

  /** Calls of `method` wait until the returned release function runs. */
  hold(method: Method): () => void {
    let release!: () => void;
    this.gates.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.gates.delete(method);
      release();
    };
  }

  /**
   * Calls of `method` compute their answer, then wait until the release function runs before
   * sending it: the caller gets a stale answer.
   */
  holdReply(method: Method): () => void {
    let release!: () => void;
    this.replyGates.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.replyGates.delete(method);
      release();
    };
  }

  /** An agent restart: new instance id; sandboxes are kept (re-adopted) unless `lose` is set. */
  restart(options: { lose?: string[] } = {}): void {
    this.instanceId = randomBytes(4).toString("hex");
    this.startedAt = new Date();
    for (const id of options.lose ?? []) this.sandboxes.delete(id);
  }

  callsOf(method: Method): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  private async enter(method: Method, context: HandlerContext, sandboxId?: string): Promise<void> {
    if (
      this.options.token &&
      context.requestHeader.get("authorization") !== `Bearer ${this.options.token}`
    ) {
      throw new ConnectError("bad token", Code.Unauthenticated);
    }
    this.calls.push({ method, sandboxId });
    await this.gates.get(method);
    const failure = this.failures.get(method);
    if (failure) {
      if (--failure.times <= 0) this.failures.delete(method);
      throw new ConnectError(failure.message, failure.code);
    }
  }

  private toProto(s: FakeSandbox): ProtoSandbox {
    return create(SandboxSchema, {
      sandboxId: s.id,
      template: s.template,
      state: s.state,
      resources: { vcpus: s.vcpus, memoryMb: s.memoryMb, diskMb: s.diskMb },
      metadata: s.metadata,
      envdVersion: this.envdVersion,
      error: s.error,
      errorReason: s.state === SandboxState.ERROR ? (s.errorReason ?? "failed") : "",
      mounts: (s.mounts ?? []).map((sandboxPath) => ({
        hostPath: `/srv/fake${sandboxPath}`,
        sandboxPath,
        readOnly: true,
      })),
      runtime: FAKE_RUNTIMES[0],
    });
  }

  private find(id: string): FakeSandbox {
    const s = this.sandboxes.get(id);
    if (!s) throw new ConnectError(`sandbox ${id} not found`, Code.NotFound);
    return s;
  }

  // wrenn-agent's checks in its order (rescue/disk-reader.ts): format, id, path and user (the
  // contract's checkStoppedFilesRead), the sandbox, its state; then the read.
  private async *readStoppedFiles(req: ReadStoppedFilesRequest, ctx: HandlerContext) {
    if (req.format !== ReadFormat.FILE && req.format !== ReadFormat.TAR)
      throw new ConnectError("format must be FILE or TAR", Code.InvalidArgument);
    if (!req.sandboxId) throw new ConnectError("sandbox_id is required", Code.InvalidArgument);
    await this.enter("readStoppedFiles", ctx, req.sandboxId);
    let target: string;
    try {
      target = checkStoppedFilesRead(req.path, req.user || "user");
    } catch (err) {
      if (err instanceof ContractError) throw refusal(err.code, err.message);
      throw err;
    }
    const s = this.find(req.sandboxId);
    if (s.state !== SandboxState.ERROR) {
      throw refusal("files_unavailable", `sandbox ${s.id} is not failed`);
    }
    if (req.format === ReadFormat.TAR)
      throw refusal("not_supported", "the fake agent makes no archives");
    const bytes = s.files?.[target];
    if (!bytes) throw refusal("file_not_found", `${target}: no such file or directory`);
    yield { event: { case: "header" as const, value: { path: target } } };
    yield { event: { case: "data" as const, value: bytes } };
  }

  private routes = (router: ConnectRouter) => {
    router.service(HostAgentService, {
      createSandbox: async (req, ctx) => {
        await this.enter("createSandbox", ctx, req.sandboxId);
        const checked = checkCreate(req, this.templates, (id) => this.sandboxes.has(id));
        const s: FakeSandbox = {
          id: checked.sandboxId,
          template: checked.template,
          state: SandboxState.RUNNING,
          vcpus: checked.resources.vcpus ?? 0,
          memoryMb: checked.resources.memoryMb ?? 0,
          diskMb: checked.resources.diskMb ?? 0,
          envVars: checked.envVars,
          metadata: checked.metadata,
          allowInternet: checked.network.allowInternet,
          allowOut: checked.network.allowOut,
          denyOut: checked.network.denyOut,
          ...(checked.network.egressProxy ? { egressProxy: checked.network.egressProxy } : {}),
          ...(checked.network.rules ? { rules: checked.network.rules } : {}),
          envdAccessToken: req.envdAccessToken,
          error: "",
        };
        this.sandboxes.set(s.id, s);
        return { sandbox: this.toProto(s) };
      },
      destroySandbox: async (req, ctx) => {
        await this.enter("destroySandbox", ctx, req.sandboxId);
        this.sandboxes.delete(req.sandboxId);
        return {};
      },
      getSandbox: async (req, ctx) => {
        await this.enter("getSandbox", ctx, req.sandboxId);
        return { sandbox: this.toProto(this.find(req.sandboxId)) };
      },
      listSandboxes: async (_req, ctx) => {
        await this.enter("listSandboxes", ctx);
        const sandboxes = [...this.sandboxes.values()].map((s) => this.toProto(s));
        await this.replyGates.get("listSandboxes");
        return { sandboxes };
      },
      pauseSandbox: async (req, ctx) => {
        await this.enter("pauseSandbox", ctx, req.sandboxId);
        const s = this.find(req.sandboxId);
        if (s.state !== SandboxState.RUNNING)
          throw new ConnectError("not running", Code.FailedPrecondition);
        s.state = SandboxState.PAUSED;
        return { sandbox: this.toProto(s) };
      },
      resumeSandbox: async (req, ctx) => {
        await this.enter("resumeSandbox", ctx, req.sandboxId);
        const s = this.find(req.sandboxId);
        if (s.state !== SandboxState.PAUSED)
          throw new ConnectError("not paused", Code.FailedPrecondition);
        s.state = SandboxState.RUNNING;
        return { sandbox: this.toProto(s) };
      },
      hibernateSandbox: async (req, ctx) => {
        await this.enter("hibernateSandbox", ctx, req.sandboxId);
        const s = this.find(req.sandboxId);
        if (s.state !== SandboxState.PAUSED)
          throw new ConnectError("not paused", Code.FailedPrecondition);
        this.hibernated.set(req.sandboxId, s);
        this.sandboxes.delete(req.sandboxId);
        return { storedBytes: 4096n };
      },
      restoreHibernatedSandbox: async (req, ctx) => {
        await this.enter("restoreHibernatedSandbox", ctx, req.sandboxId);
        const s = this.hibernated.get(req.sandboxId);
        if (!s) throw new ConnectError("not hibernated", Code.NotFound);
        this.hibernated.delete(req.sandboxId);
        s.state = SandboxState.RUNNING;
        this.sandboxes.set(req.sandboxId, s);
        return { sandbox: this.toProto(s) };
      },
      updateSandboxNetwork: async (req, ctx) => {
        await this.enter("updateSandboxNetwork", ctx, req.sandboxId);
        const s = this.find(req.sandboxId);
        // The contract's rules, as the real agent runs them, refused the way it refuses.
        let network: ReturnType<typeof checkEgressPolicyWire>;
        try {
          network = checkEgressPolicyWire(req.network);
        } catch (err) {
          if (err instanceof ContractError) throw refusal(err.code, err.message);
          throw err;
        }
        s.allowInternet = network.allowInternet;
        s.allowOut = network.allowOut;
        s.denyOut = network.denyOut;
        s.egressProxy = network.egressProxy;
        s.rules = network.rules;
        return { sandbox: this.toProto(s) };
      },
      getSandboxStats: async (req, ctx) => {
        await this.enter("getSandboxStats", ctx, req.sandboxId);
        const s = this.find(req.sandboxId);
        return {
          stats: {
            timestamp: timestampFromDate(new Date()),
            cpuCount: s.vcpus,
            cpuUsedPct: 12.5,
            memUsedBytes: 100n * 1024n * 1024n,
            memTotalBytes: BigInt(s.memoryMb) * 1024n * 1024n,
            memCacheBytes: 10n * 1024n * 1024n,
            diskUsedBytes: 200n * 1024n * 1024n,
            diskTotalBytes: BigInt(s.diskMb) * 1024n * 1024n,
          },
        };
      },
      hostStatus: async (_req, ctx) => {
        await this.enter("hostStatus", ctx);
        const counts: Record<string, number> = {};
        for (const s of this.sandboxes.values()) {
          const name = SandboxState[s.state].toLowerCase();
          counts[name] = (counts[name] ?? 0) + 1;
        }
        const used = [...this.sandboxes.values()].filter((s) => s.state === SandboxState.RUNNING);
        return {
          hostId: this.hostId,
          hostname: "fake-agent",
          version: "0.0.0-fake",
          runtimes: [...FAKE_RUNTIMES],
          total: { vcpus: 8, memoryMb: BigInt(this.memoryMb), diskMb: BigInt(this.diskMb) },
          used: {
            vcpus: used.reduce((n, s) => n + s.vcpus, 0),
            memoryMb: BigInt(used.reduce((n, s) => n + s.memoryMb, 0)),
            diskMb: 0n,
          },
          sandboxesByState: counts,
        };
      },
      heartbeat: async (_req, ctx) => {
        await this.enter("heartbeat", ctx);
        return {
          hostId: this.hostId,
          instanceId: this.instanceId,
          time: timestampFromDate(new Date()),
          sandboxCount: this.sandboxes.size,
          stateVersion: this.stateVersion,
          startedAt: timestampFromDate(this.startedAt),
        };
      },
      listTemplates: async (_req, ctx) => {
        await this.enter("listTemplates", ctx);
        return {
          templates: this.templates.map((name) => ({
            name,
            version: "v1",
            envdVersion: this.envdVersion,
            sizeBytes: BigInt(this.templateSizes.get(name) ?? 1),
          })),
        };
      },
      deleteTemplate: async (req, ctx) => {
        await this.enter("deleteTemplate", ctx);
        // wrenn-agent's refusal, in its words: the control plane passes the sandboxes on.
        const users = [...this.sandboxes.values()].filter((s) => s.template === req.name);
        if (users.length > 0) {
          throw refusal(
            "template_in_use",
            `template ${req.name} is used by sandboxes: ${users.map((s) => s.id).join(", ")}`,
          );
        }
        this.templates = this.templates.filter((name) => name !== req.name);
        this.templateSizes.delete(req.name);
        return {};
      },
      readStoppedFiles: (req, ctx) => this.readStoppedFiles(req, ctx),
      buildTemplate: (req) => this.buildTemplate(req),
    });
  };

  private async *buildTemplate(req: BuildTemplateRequest) {
    // Refuses what the real agent refuses before building; then builds nothing, or (with
    // buildSizeBytes) an empty template of that size.
    try {
      checkTemplateCacheScope(req.cacheScope);
    } catch (err) {
      if (err instanceof ContractError) throw refusal(err.code, err.message);
      throw err;
    }
    const sizeBytes = this.buildSizeBytes;
    if (sizeBytes === undefined) {
      throw new ConnectError("the fake agent builds nothing", Code.Unimplemented);
    }
    yield {
      event: { case: "progress" as const, value: { phase: "pull", message: this.buildMessage } },
    };
    this.templates.push(req.name);
    this.templateSizes.set(req.name, sizeBytes);
    yield {
      event: {
        case: "done" as const,
        value: {
          name: req.name,
          version: "v1",
          envdVersion: this.envdVersion,
          sizeBytes: BigInt(sizeBytes),
        },
      },
    };
  }

  async start(port = 0): Promise<string> {
    this.server = createServer(connectNodeAdapter({ routes: this.routes }));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Stops answering (an agent crash, as the control plane sees it). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
