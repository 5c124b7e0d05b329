import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  checkWorkspaceCreate,
  errorMessage,
  isWorkspaceNameShape,
  WORKSPACE_IDLE_SUSPEND_SECONDS,
  WORKSPACE_TUNNEL,
  type WorkspaceState,
  workspaceStateOf,
} from "@wrenn/contract";
import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import { type AgentSandbox, HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { ServiceError, validated } from "../service/errors.js";
import { fromHostError } from "../service/host-refusal.js";
import type { SandboxService } from "../service/sandbox-service.js";
import { ownerScope, type Principal, type Sandbox } from "../service/sandbox-types.js";
import {
  countWorkspacesBySandboxState,
  deleteWorkspace,
  findWorkspace,
  insertWorkspace,
  listWorkspaces,
  setWorkspaceHostKey,
  setWorkspaceSandbox,
  WorkspaceNameTaken,
  type WorkspaceRecord,
  workspaceMoving,
} from "../store/workspace-store.js";
import { moveWorkspace } from "./workspace-move.js";

/** A workspace as every edge reports it (hostd.v1's WorkspaceInfo, /v1's Workspace). */
export interface WorkspaceView {
  name: string;
  state: WorkspaceState;
  image: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  hostPort: number;
  vmIp: string;
  sandboxId: string;
  sshHostKey: string;
  createdAt: Date;
}

/** A workspace with the owner it belongs to (the admin UI lists every owner's). */
export interface OwnedWorkspaceView extends WorkspaceView {
  ownerId: string;
}

/** What a laptop needs to reach it (hostd.v1's ClientConfig). */
export interface ClientConfigView {
  name: string;
  endpoint: string;
  privateKey: string;
  peerPublicKey: string;
  tunnelIp: string;
  agentIp: string;
}

export interface HostStatusView {
  totalVcpus: number;
  availableVcpus: number;
  totalMemoryMb: number;
  availableMemoryMb: number;
  totalDiskGb: number;
  availableDiskGb: number;
  runningWorkspaces: number;
  suspendedWorkspaces: number;
}

export interface WorkspaceServiceOptions {
  db: Queryable;
  sandboxes: SandboxService;
  registry: HostRegistry;
  /** The template a workspace that names no image runs. */
  defaultImage: string;
  /** Reads (makes, if missing) a workspace's SSH host key on its own disk (workspace-sshd.ts). */
  hostKeys?: { hostKey(principal: Principal, sandboxId: string): Promise<string | null> };
  /** How long a wake waits for a move of its workspace to finish (default 180 s). */
  moveWaitMs?: number;
  logger?: Logger;
}

/** How often a wake looks whether the move it waits for has finished. */
const MOVE_POLL_MS = 250;

/** Marks a workspace's sandbox so its listing says what it is for. */
export const WORKSPACE_METADATA_KEY = "wrenn.workspace";

const notFound = (name: string) =>
  new ServiceError("workspace_not_found", errorMessage("workspace_not_found", { name }));

/**
 * Workspaces are sandboxes with a name of their own, no end time and a bigger disk: every state
 * change is the sandbox service's (create, pause = suspend, resume, destroy), so a workspace
 * survives restarts exactly as its sandbox does. Its sandbox is created with auto-pause and the
 * longest idle period: the lifecycle manager suspends an idle workspace and never destroys one.
 */
export class WorkspaceService {
  constructor(private readonly options: WorkspaceServiceOptions) {}

  async create(
    principal: Principal,
    input: {
      name?: unknown;
      image?: unknown;
      vcpus?: unknown;
      memoryMb?: unknown;
      diskGb?: unknown;
    },
  ): Promise<{ workspace: WorkspaceView; clientConfig: ClientConfigView }> {
    const spec = validated(() => checkWorkspaceCreate(input));
    const image = spec.image ?? this.options.defaultImage;
    // The row first: it claims the name, so two creates of one name never both make a sandbox.
    const row = await insertWorkspace(this.options.db, {
      id: `ws-${randomBytes(4).toString("hex")}`,
      ownerId: principal.ownerId,
      name: spec.name,
      image,
      vcpus: spec.vcpus,
      memoryMb: spec.memoryMb,
      diskGb: spec.diskGb,
    }).catch((error: unknown) => {
      if (error instanceof WorkspaceNameTaken) {
        throw new ServiceError(
          "workspace_name_taken",
          `${errorMessage("workspace_name_taken", { name: spec.name })}; pick another name, or destroy that workspace first`,
        );
      }
      throw error;
    });
    let sandbox: Sandbox;
    try {
      sandbox = await this.options.sandboxes.create(principal, {
        template: image,
        resources: { vcpus: spec.vcpus, memoryMb: spec.memoryMb, diskMb: spec.diskGb * 1024 },
        metadata: { [WORKSPACE_METADATA_KEY]: spec.name },
        timeoutSeconds: WORKSPACE_IDLE_SUSPEND_SECONDS,
        autoPause: true,
      });
    } catch (error) {
      // No sandbox, no workspace: the name is free again and nothing is left half made.
      await deleteWorkspace(this.options.db, row.id);
      throw error;
    }
    const hostKey = await this.hostKey(principal, sandbox);
    const linked = (await setWorkspaceSandbox(this.options.db, row.id, sandbox.id, hostKey)) ?? row;
    let clientConfig: ClientConfigView;
    try {
      clientConfig = await this.openTunnel(linked.name, sandbox);
    } catch (error) {
      // No endpoint (no free port, say), no workspace: nothing is left half made.
      await this.options.sandboxes
        .destroy(principal, sandbox.id, { ofWorkspace: true })
        .catch(() => {});
      await deleteWorkspace(this.options.db, row.id);
      throw error;
    }
    const workspace = await this.view(linked, sandbox);
    return { workspace, clientConfig };
  }

  /**
   * New WireGuard keys for both ends (same port): the old client config stops working. The new
   * client private key is in the answer, once, as at create.
   */
  async rotate(principal: Principal, name: unknown): Promise<ClientConfigView> {
    const row = await this.afterMove(await this.find(principal, name));
    const sandbox = await this.sandboxOf(principal, row);
    this.refuseStopped(row, sandbox);
    return this.openTunnel(row.name, sandbox);
  }

  /**
   * The workspace runs a new sandbox made from one of the owner's snapshots (its disk, memory
   * and processes), with the workspace's settings; the sandbox it ran is destroyed, and with it
   * its WireGuard port: the answer has the new client config, as a create's does. A stopped
   * workspace can be restored too. The new sandbox is linked before the old one goes, so the
   * workspace is never without one.
   */
  async restore(
    principal: Principal,
    name: unknown,
    snapshotId: string,
  ): Promise<{ workspace: WorkspaceView; clientConfig: ClientConfigView }> {
    const row = await this.afterMove(await this.find(principal, name));
    const old = row.sandboxId
      ? await this.options.sandboxes.get(principal, row.sandboxId).catch(() => null)
      : null;
    const sandbox = await this.options.sandboxes.create(principal, {
      template: snapshotId,
      metadata: { [WORKSPACE_METADATA_KEY]: row.name },
      timeoutSeconds: WORKSPACE_IDLE_SUSPEND_SECONDS,
      autoPause: true,
    });
    // Another disk, maybe another host key: the one it had is no longer the one to pin.
    const hostKey = await this.hostKey(principal, sandbox);
    const linked = (await setWorkspaceSandbox(this.options.db, row.id, sandbox.id, hostKey)) ?? row;
    if (old) {
      if (old.hostId) {
        await this.options.registry
          .client(old.hostId)
          .closeWorkspaceTunnel(old.id)
          .catch(() => {});
      }
      await this.options.sandboxes.destroy(principal, old.id, { ofWorkspace: true });
    }
    const clientConfig = await this.openTunnel(linked.name, sandbox);
    return { workspace: await this.view(linked, sandbox), clientConfig };
  }

  /**
   * The workspace's SSH host key read from its disk (made there if missing). One that cannot be
   * read fails nothing: it is learnt at the first SSH connection then (rememberHostKey).
   */
  private async hostKey(principal: Principal, sandbox: Sandbox): Promise<string | null> {
    return (await this.options.hostKeys?.hostKey(principal, sandbox.id)) ?? null;
  }

  /**
   * The host key its sshd presents (read as root through envd, the same trusted path as at
   * create), pinned when it was not known or has changed: a key regenerated inside the
   * workspace is learnt at the next SSH connection. That connection's client still holds the
   * old pin and is refused by ssh; the next one gets the new pin.
   */
  async rememberHostKey(principal: Principal, sandboxId: string, key: string): Promise<void> {
    const changed = await setWorkspaceHostKey(this.options.db, principal.ownerId, sandboxId, key);
    if (changed?.previous) {
      this.options.logger?.info(
        { workspace: changed.name, sandboxId, previous: changed.previous, key },
        "workspace ssh host key changed; pinned the new one",
      );
    }
  }

  /**
   * The row once no move holds it: a move of it under way (on any control plane: the mark is
   * in PostgreSQL) is waited for, a bounded time, then refused with workspace_moving. `ask`:
   * look in the database even though the row read showed no move (one may have begun since).
   */
  private async afterMove(row: WorkspaceRecord, ask = false): Promise<WorkspaceRecord> {
    if (!ask && row.movingUntil === null) return row;
    const deadline = Date.now() + (this.options.moveWaitMs ?? 180_000);
    let waited = false;
    while (await workspaceMoving(this.options.db, row.id)) {
      if (Date.now() > deadline) {
        throw new ServiceError(
          "workspace_moving",
          `${errorMessage("workspace_moving", { name: row.name })}; try again once it is on its new host (wrenn ws get ${row.name})`,
          30,
        );
      }
      waited = true;
      await sleep(MOVE_POLL_MS);
    }
    if (!waited) return row;
    const now = await findWorkspace(this.options.db, row.ownerId, row.name);
    if (!now || now.id !== row.id) throw notFound(row.name);
    return now;
  }

  /** The host makes both key pairs; its client private key passes through, never stored. */
  async openTunnel(name: string, sandbox: Sandbox): Promise<ClientConfigView> {
    if (!sandbox.hostId) {
      throw new ServiceError("sandbox_busy", `workspace ${name} has no host yet; try again`);
    }
    const tunnel = await this.options.registry
      .client(sandbox.hostId)
      .openWorkspaceTunnel(sandbox.id)
      .catch((error: unknown) => {
        throw error instanceof HostError ? fromHostError(error, "open a WireGuard port") : error;
      });
    return {
      name,
      endpoint: `${this.endpointHost(sandbox.hostId)}:${tunnel.port}`,
      privateKey: tunnel.clientPrivateKey,
      peerPublicKey: tunnel.serverPublicKey,
      tunnelIp: WORKSPACE_TUNNEL.clientCidr,
      agentIp: WORKSPACE_TUNNEL.agentIp,
    };
  }

  /** The host's address as the control plane reaches it (its registered URL's host). */
  private endpointHost(hostId: string): string {
    const url = this.options.registry.all().find((h) => h.id === hostId)?.url ?? "";
    let host = "";
    try {
      host = new URL(url).hostname;
    } catch {
      // A unix-socket agent has no network address: the laptop must be on the host itself.
    }
    return host || "127.0.0.1";
  }

  async get(principal: Principal, name: unknown): Promise<WorkspaceView> {
    const row = await this.find(principal, name);
    return this.view(row);
  }

  async list(principal: Principal): Promise<WorkspaceView[]> {
    const rows = await listWorkspaces(this.options.db, principal.ownerId);
    return Promise.all(rows.map((row) => this.view(row)));
  }

  /**
   * Every workspace the principal reaches, each with its owner: every owner's for the admin UI's
   * session (ownerScope decides), the caller's own for anyone else. Reads only.
   */
  async listReached(principal: Principal): Promise<OwnedWorkspaceView[]> {
    const rows = await listWorkspaces(this.options.db, ownerScope(principal));
    return Promise.all(
      rows.map(async (row) => ({ ...(await this.view(row)), ownerId: row.ownerId })),
    );
  }

  /** Pauses its sandbox; suspending a suspended workspace changes nothing. */
  async suspend(principal: Principal, name: unknown): Promise<WorkspaceView> {
    const row = await this.afterMove(await this.find(principal, name));
    const sandbox = await this.sandboxOf(principal, row);
    if (workspaceStateOf(sandbox.state) === "suspended") return this.view(row, sandbox);
    this.refuseStopped(row, sandbox);
    return this.view(row, await this.options.sandboxes.pause(principal, sandbox.id));
  }

  /** Resumes its sandbox; resuming a running workspace changes nothing. */
  async resume(principal: Principal, name: unknown): Promise<WorkspaceView> {
    const { row, sandbox } = await this.settled(principal, name);
    if (sandbox.state === "running") return this.view(row, sandbox);
    return this.view(row, await this.resumeSandbox(principal, sandbox));
  }

  /**
   * Its row and sandbox once no move holds it. A sandbox found not running is looked at again
   * after a second look for a move: a move that began after the first look has paused it, and
   * resuming it now would split the move's pause from its hibernate.
   */
  private async settled(
    principal: Principal,
    name: unknown,
  ): Promise<{ row: WorkspaceRecord; sandbox: Sandbox }> {
    let row = await this.afterMove(await this.find(principal, name));
    let sandbox = await this.sandboxOf(principal, row);
    if (sandbox.state !== "running") {
      const after = await this.afterMove(row, true);
      if (after !== row) {
        row = after;
        sandbox = await this.sandboxOf(principal, row);
      }
    }
    this.refuseStopped(row, sandbox);
    return { row, sandbox };
  }

  /**
   * The running sandbox of a workspace, resumed first when it is suspended (an SSH connection
   * wakes its workspace). A stopped one is refused; one still being created is busy.
   */
  async reach(principal: Principal, name: unknown): Promise<Sandbox> {
    const { row, sandbox } = await this.settled(principal, name);
    if (sandbox.state === "running") return sandbox;
    if (workspaceStateOf(sandbox.state) === "created") {
      throw new ServiceError(
        "sandbox_busy",
        `workspace ${row.name} is starting; try again shortly`,
      );
    }
    return this.resumeSandbox(principal, sandbox);
  }

  /**
   * Activity on a workspace's sandbox (an SSH tunnel open, or one just closed): its idle deadline
   * starts again from now, as a resume's does, so a workspace in use is never suspended under
   * its user. A sandbox that is ending or gone has no deadline to move: that is not an error.
   */
  async keepAlive(principal: Principal, sandboxId: string): Promise<void> {
    await this.options.sandboxes
      .setTimeout(principal, sandboxId, WORKSPACE_IDLE_SUSPEND_SECONDS, {
        ofWorkspace: true,
        audit: false,
      })
      .catch((error: unknown) => {
        if (error instanceof ServiceError) return;
        throw error;
      });
  }

  private async resumeSandbox(principal: Principal, sandbox: Sandbox): Promise<Sandbox> {
    const { sandbox: resumed } = await this.options.sandboxes.resume(principal, sandbox.id, {
      timeoutSeconds: WORKSPACE_IDLE_SUSPEND_SECONDS,
    });
    return resumed;
  }

  /** Destroys its sandbox, then forgets it; the name is free afterwards. */
  async destroy(principal: Principal, name: unknown): Promise<void> {
    const row = await this.afterMove(await this.find(principal, name));
    if (row.sandboxId) {
      // Its port is free at once (the host also frees it when the sandbox goes, whoever ends it).
      const sandbox = await this.options.sandboxes.get(principal, row.sandboxId).catch(() => null);
      if (sandbox?.hostId) {
        await this.options.registry
          .client(sandbox.hostId)
          .closeWorkspaceTunnel(sandbox.id)
          .catch(() => {});
      }
      await this.options.sandboxes.destroy(principal, row.sandboxId, { ofWorkspace: true });
    }
    await deleteWorkspace(this.options.db, row.id);
  }

  /**
   * Capacity of the hosts this control plane serves, as those that answer report it now (one
   * host down must not fail the call), and the caller's own workspaces by state.
   */
  async hostStatus(principal: Principal): Promise<HostStatusView> {
    const answers = await Promise.allSettled(
      this.options.registry.all().map((h) => h.client.hostStatus()),
    );
    const statuses = answers.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
    const sum = (pick: (s: (typeof statuses)[number]) => number) =>
      statuses.reduce((total, s) => total + pick(s), 0);
    const counts = await countWorkspacesBySandboxState(this.options.db, principal.ownerId);
    let running = 0;
    let suspended = 0;
    for (const [state, n] of counts) {
      const as = workspaceStateOf(state as Sandbox["state"]);
      if (as === "running") running += n;
      if (as === "suspended") suspended += n;
    }
    const totalDiskMb = sum((s) => s.total.diskMb);
    return {
      totalVcpus: sum((s) => s.total.vcpus),
      availableVcpus: Math.max(
        0,
        sum((s) => s.total.vcpus - s.used.vcpus),
      ),
      totalMemoryMb: sum((s) => s.total.memoryMb),
      availableMemoryMb: Math.max(
        0,
        sum((s) => s.total.memoryMb - s.used.memoryMb),
      ),
      totalDiskGb: Math.floor(totalDiskMb / 1024),
      availableDiskGb: Math.max(0, Math.floor(sum((s) => s.total.diskMb - s.used.diskMb) / 1024)),
      runningWorkspaces: running,
      suspendedWorkspaces: suspended,
    };
  }

  /**
   * Moves the workspace to another host through the shared artifact store (workspace-move.ts):
   * its disk, memory and processes go along; its WireGuard port and keys are the new host's.
   */
  move(
    principal: Principal,
    name: unknown,
    hostRef: string,
  ): Promise<{ workspace: WorkspaceView; clientConfig: ClientConfigView }> {
    return moveWorkspace(this, this.options, principal, name, hostRef);
  }

  // ---------------------------------------------------------------- used by workspace-move.ts too

  async find(principal: Principal, name: unknown): Promise<WorkspaceRecord> {
    if (!isWorkspaceNameShape(name)) throw notFound(String(name));
    const row = await findWorkspace(this.options.db, principal.ownerId, name);
    if (!row) throw notFound(name);
    return row;
  }

  async sandboxOf(principal: Principal, row: WorkspaceRecord): Promise<Sandbox> {
    // Only while its create is still under way has a workspace no sandbox.
    if (!row.sandboxId) {
      throw new ServiceError("sandbox_busy", `workspace ${row.name} is still being created`);
    }
    return this.options.sandboxes.get(principal, row.sandboxId);
  }

  refuseStopped(row: WorkspaceRecord, sandbox: Sandbox): void {
    if (workspaceStateOf(sandbox.state) !== "stopped") return;
    throw new ServiceError(
      "invalid_state",
      `workspace ${row.name} is stopped (its sandbox ${sandbox.id} is ${sandbox.state}); destroy it and create it again`,
    );
  }

  async view(row: WorkspaceRecord, known?: Sandbox): Promise<WorkspaceView> {
    const sandbox =
      known ??
      (row.sandboxId
        ? await this.options.sandboxes
            .get({ keyId: "", ownerId: row.ownerId, role: "user", name: "" }, row.sandboxId)
            .catch(() => null)
        : null);
    const state: WorkspaceState = sandbox ? workspaceStateOf(sandbox.state) : "created";
    const agent = sandbox ? await this.onHost(sandbox) : null;
    return {
      name: row.name,
      state,
      image: row.image,
      vcpus: row.vcpus,
      memoryMb: row.memoryMb,
      diskGb: row.diskGb,
      hostPort: agent?.tunnelPort ?? 0,
      vmIp: state === "running" ? (agent?.address ?? "") : "",
      sandboxId: row.sandboxId ?? "",
      sshHostKey: row.sshHostKey ?? "",
      createdAt: row.createdAt,
    };
  }

  /** The sandbox as its host reports it (its address, its tunnel port); null if it cannot say. */
  private async onHost(sandbox: Sandbox): Promise<AgentSandbox | null> {
    if (!sandbox.hostId) return null;
    try {
      return await this.options.registry.client(sandbox.hostId).getSandbox(sandbox.id);
    } catch {
      return null;
    }
  }
}
