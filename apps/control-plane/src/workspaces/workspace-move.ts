import { errorMessage, WORKSPACE_IDLE_SUSPEND_SECONDS } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import { HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { ServiceError } from "../service/errors.js";
import { fromHostError } from "../service/host-refusal.js";
import type { SandboxService } from "../service/sandbox-service.js";
import type { Principal, Sandbox } from "../service/sandbox-types.js";
import { findHost, type HostRecord, listHosts } from "../store/host-store.js";
import {
  claimWorkspaceMove,
  releaseWorkspaceMove,
  type WorkspaceRecord,
} from "../store/workspace-store.js";
import type { ClientConfigView, WorkspaceView } from "./workspace-service.js";

// A workspace move (`wrenn ws to NAME HOST`): pause, hibernate to the artifact store both hosts
// share, resume pinned to the target, and a WireGuard endpoint there. Every check that can
// refuse runs before anything changes, so a refused move leaves the workspace as it was.
//
// While it runs the workspace's row is marked as moving (a lease in PostgreSQL): a wake on any
// control plane (an SSH connection, a resume) waits for the move to finish rather than resuming
// the sandbox between its pause and its hibernate (workspace-service.ts). A wake that slipped in
// before the mark was seen is undone: the move pauses it again.

/** How long a move may hold a workspace before another control plane takes it for dead. */
export const MOVE_LEASE_SECONDS = 15 * 60;
/** Pause-and-hibernate rounds a move tries before it gives up on a workspace that keeps waking. */
const HIBERNATE_ATTEMPTS = 3;

/** What the move needs of the workspace service (its lookups, its tunnel and its view). */
export interface MoveSteps {
  find(principal: Principal, name: unknown): Promise<WorkspaceRecord>;
  sandboxOf(principal: Principal, row: WorkspaceRecord): Promise<Sandbox>;
  refuseStopped(row: WorkspaceRecord, sandbox: Sandbox): void;
  openTunnel(name: string, sandbox: Sandbox): Promise<ClientConfigView>;
  view(row: WorkspaceRecord, known?: Sandbox): Promise<WorkspaceView>;
}

export interface MoveDeps {
  db: Queryable;
  sandboxes: SandboxService;
  registry: HostRegistry;
}

export async function moveWorkspace(
  steps: MoveSteps,
  deps: MoveDeps,
  principal: Principal,
  name: unknown,
  hostRef: string,
): Promise<{ workspace: WorkspaceView; clientConfig: ClientConfigView }> {
  const row = await steps.find(principal, name);
  const sandbox = await steps.sandboxOf(principal, row);
  steps.refuseStopped(row, sandbox);
  const target = await resolveHost(deps.db, hostRef);
  if (sandbox.hostId === target.id) {
    throw new ServiceError(
      "workspace_on_host",
      `${errorMessage("workspace_on_host", { name: row.name, id: target.id })}; name another host (wrenn hosts ls)`,
    );
  }
  if (
    target.status !== "online" ||
    target.drained ||
    !deps.registry.all().some((h) => h.id === target.id)
  ) {
    throw new ServiceError(
      "host_not_ready",
      `${errorMessage("host_not_ready", { id: target.id })} (it is ${target.drained ? "drained" : target.status}); move to an online host that is not drained, or undrain it first`,
    );
  }
  if (!["running", "paused", "hibernated"].includes(sandbox.state)) {
    throw new ServiceError(
      "sandbox_busy",
      `workspace ${row.name} is ${sandbox.state} (its sandbox ${sandbox.id}); try again once it is running or suspended`,
    );
  }
  // A hibernated one is in the store already: only the target must read it from there.
  const ends = sandbox.state === "hibernated" ? [target.id] : [sandbox.hostId ?? "", target.id];
  await requireSharedStore(deps.registry, ends);

  if (!(await claimWorkspaceMove(deps.db, row.id, MOVE_LEASE_SECONDS))) {
    throw new ServiceError(
      "workspace_moving",
      `${errorMessage("workspace_moving", { name: row.name })}; wait for that move to finish (wrenn ws get ${row.name})`,
      30,
    );
  }
  try {
    return await moveClaimed(steps, deps, principal, row, sandbox, target);
  } finally {
    await releaseWorkspaceMove(deps.db, row.id);
  }
}

async function moveClaimed(
  steps: MoveSteps,
  deps: MoveDeps,
  principal: Principal,
  row: WorkspaceRecord,
  sandbox: Sandbox,
  target: HostRecord,
): Promise<{ workspace: WorkspaceView; clientConfig: ClientConfigView }> {
  const current = await hibernateForMove(deps, principal, row, sandbox);
  const { sandbox: moved } = await deps.sandboxes
    .resume(principal, current.id, {
      timeoutSeconds: WORKSPACE_IDLE_SUSPEND_SECONDS,
      hostId: target.id,
    })
    .catch((error: unknown) => {
      // It stays hibernated in the store: a resume (or another move) brings it back.
      if (error instanceof ServiceError) {
        throw new ServiceError(
          error.code,
          `${error.message}; workspace ${row.name} is suspended (hibernated in the artifact store): resume it, or move it again`,
          error.retryAfterSeconds,
        );
      }
      throw error;
    });
  const clientConfig = await steps.openTunnel(row.name, moved);
  return { workspace: await steps.view(row, moved), clientConfig };
}

/**
 * Pauses and hibernates it, whatever woke it in between (a wake begun before the move's mark
 * was seen): each time it is found running again it is paused again, a few times at most.
 */
async function hibernateForMove(
  deps: MoveDeps,
  principal: Principal,
  row: WorkspaceRecord,
  sandbox: Sandbox,
): Promise<Sandbox> {
  let current = sandbox;
  for (let attempt = 1; current.state !== "hibernated"; attempt++) {
    if (attempt > HIBERNATE_ATTEMPTS) {
      throw new ServiceError(
        "sandbox_busy",
        `workspace ${row.name} kept waking while it was being moved (its sandbox is ${current.state}); nothing moved: try the move again`,
      );
    }
    try {
      // Running, or on its way somewhere (the pause waits for that to end first).
      if (current.state !== "paused") current = await deps.sandboxes.pause(principal, current.id);
      if (current.state === "paused") {
        const from = current.hostId;
        current = await deps.sandboxes.hibernate(principal, current.id);
        // It left that host, and with it the tunnel's port (the host also frees it when the
        // sandbox goes); closing it again here is for an agent that kept it.
        if (from) {
          await deps.registry
            .client(from)
            .closeWorkspaceTunnel(current.id)
            .catch(() => {});
        }
      }
    } catch (error) {
      // Woken (or paused) under us between two steps: look again and go on from there.
      if (!(error instanceof ServiceError) || error.code !== "invalid_state") throw error;
    }
    if (current.state !== "hibernated") current = await deps.sandboxes.get(principal, current.id);
  }
  return current;
}

/**
 * The host a move names: its id, or the host name its agent reports when exactly one host has
 * it. Unknown: 404; a name two hosts share: 400 asking for the id.
 */
async function resolveHost(db: Queryable, ref: string): Promise<HostRecord> {
  const byId = await findHost(db, ref);
  if (byId) return byId;
  const named = (await listHosts(db)).filter((h) => h.hostname === ref);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw new ServiceError(
      "invalid_request",
      `${named.length} hosts are named ${ref} (${named.map((h) => h.id).join(", ")}); name the host by its id`,
    );
  }
  throw new ServiceError(
    "host_not_found",
    `${errorMessage("host_not_found", { id: ref })}; list hosts with wrenn hosts ls`,
  );
}

/** Both ends must use one shared store: with a host-local one the other could never read it. */
async function requireSharedStore(registry: HostRegistry, hostIds: string[]): Promise<void> {
  for (const id of hostIds) {
    if (!id) continue;
    const status = await registry
      .client(id)
      .hostStatus()
      .catch((error: unknown) => {
        throw error instanceof HostError ? fromHostError(error, "check its artifact store") : error;
      });
    if (!status.sharedStore) {
      throw new ServiceError(
        "store_not_configured",
        `${errorMessage("store_not_configured")}: host ${id} keeps hibernated sandboxes on its own disk; set WRENN_STORE=s3 and the same WRENN_S3_* settings on both agents to move workspaces between them`,
      );
    }
  }
}
