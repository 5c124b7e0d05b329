import { errorMessage, WORKSPACE_IDLE_SUSPEND_SECONDS } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import { HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { ServiceError } from "../service/errors.js";
import { fromHostError } from "../service/host-refusal.js";
import type { SandboxService } from "../service/sandbox-service.js";
import type { Principal, Sandbox } from "../service/sandbox-types.js";
import { findHost, type HostRecord, listHosts } from "../store/host-store.js";
import type { WorkspaceRecord } from "../store/workspace-store.js";
import type { ClientConfigView, WorkspaceView } from "./workspace-service.js";

// A workspace move (`wrenn ws to NAME HOST`): pause, hibernate to the artifact store both hosts
// share, resume pinned to the target, and a WireGuard endpoint there. Every check that can
// refuse runs before anything changes, so a refused move leaves the workspace as it was.

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

  let current = sandbox;
  if (current.state === "running") current = await deps.sandboxes.pause(principal, current.id);
  if (current.state === "paused") {
    const from = current.hostId;
    current = await deps.sandboxes.hibernate(principal, current.id);
    // It left that host, and with it the tunnel's port (the host also frees it when the sandbox
    // goes); closing it again here is for an agent that kept it.
    if (from) {
      await deps.registry
        .client(from)
        .closeWorkspaceTunnel(current.id)
        .catch(() => {});
    }
  }
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
