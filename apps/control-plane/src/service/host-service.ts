import { errorMessage, SANDBOX_STATES, type SandboxState } from "@wrenn/contract";
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import type { HostMonitor } from "../hosts/host-monitor.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { sandboxesOnHost } from "../store/host-sandboxes-store.js";
import {
  deleteHostRow,
  findHost,
  type HostRecord,
  type HostTemplate,
  listHosts,
  setHostDrained,
} from "../store/host-store.js";
import { findSandboxInState, updateSandbox } from "../store/sandbox-store.js";
import {
  deleteSnapshotRowsOnlyOnHost,
  findSnapshotById,
  snapshotIdsOnlyOnHost,
} from "../store/snapshot-store.js";
import type { ApiKeyService } from "./api-key-service.js";
import type { AuditLog } from "./audit-log.js";
import { ServiceError } from "./errors.js";
import type { SandboxService } from "./sandbox-service.js";
import type { Principal } from "./sandbox-types.js";
import { refreshStored } from "./snapshot-service.js";

/** A template as one host holds it. */
export interface TemplateListing extends HostTemplate {
  hostId: string;
}

export interface HostServiceOptions {
  db: Database;
  registry: HostRegistry;
  monitor: HostMonitor;
  keys: ApiKeyService;
  sandboxes: Pick<SandboxService, "runDestroy">;
  audit: AuditLog;
  logger: Logger;
  /** Seconds a destroy may stay in flight (the sandbox service's stop deadline). */
  stopDeadlineSeconds: number;
}

/** States a destroy can start from (a sandbox already stopping is only finished). */
const DESTROYABLE = SANDBOX_STATES.filter(
  (s): s is SandboxState => s !== "stopped" && s !== "stopping",
);
const SUSPENDED: readonly SandboxState[] = ["paused", "hibernated"];

export class HostService {
  constructor(private readonly options: HostServiceOptions) {}

  /** Asks every configured host for its status first, so capacity figures are current. */
  async list(principal: Principal): Promise<HostRecord[]> {
    this.options.keys.requireAdmin(principal);
    await Promise.all(
      this.options.registry.all().map((host) => this.options.monitor.refresh(host.id)),
    );
    return listHosts(this.options.db);
  }

  /** Every template every host has, by name, then host (asked of the hosts first, as list). */
  async templates(principal: Principal): Promise<TemplateListing[]> {
    const hosts = await this.list(principal);
    return hosts
      .flatMap((h) => h.templates.map((t) => ({ ...t, hostId: h.id })))
      .sort((a, b) => a.name.localeCompare(b.name) || a.hostId.localeCompare(b.hostId));
  }

  private async existing(id: string): Promise<HostRecord> {
    const host = await findHost(this.options.db, id);
    if (!host) throw new ServiceError("host_not_found", errorMessage("host_not_found", { id }));
    return host;
  }

  /**
   * Drained (or not): the scheduler places nothing new there; what it holds keeps running, and
   * the lifecycle pass hibernates its paused sandboxes (lifecycle-manager.ts). Idempotent.
   */
  async setDrained(
    principal: Principal,
    id: string,
    drained: boolean,
  ): Promise<{ host: HostRecord; pausedSandboxes: string[] }> {
    this.options.keys.requireAdmin(principal);
    await this.existing(id);
    if (!(await setHostDrained(this.options.db, id, drained))) await this.existing(id);
    await this.options.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: drained ? "host.drain" : "host.undrain",
      outcome: "ok",
      detail: { hostId: id },
    });
    const paused = (await sandboxesOnHost(this.options.db, id))
      .filter((row) => SUSPENDED.includes(row.state))
      .map((row) => row.id)
      .sort();
    return { host: await this.existing(id), pausedSandboxes: paused };
  }

  /**
   * Deletes a registered host. With sandboxes or snapshots on it: host_in_use naming them,
   * unless force, which destroys the sandboxes first and drops the records of the snapshots only
   * it holds (each sandbox record ends stopped, reason destroyed, as a DELETE of the sandbox would; one its unreachable host cannot destroy is ended anyway, as the host is
   * going). Then the row goes, the client is evicted from the pool, and the host's JWT and
   * refresh token stop working (host_deleted).
   */
  async delete(
    principal: Principal,
    id: string,
    force: boolean,
  ): Promise<{ destroyedSandboxes: string[] }> {
    this.options.keys.requireAdmin(principal);
    const host = await this.existing(id);
    if (host.kind === "configured") {
      throw new ServiceError(
        "failed_precondition",
        `host ${id} is this control plane's configured host (WRENN_AGENT_URL ${host.url}); change the configuration instead`,
      );
    }
    const live = (await sandboxesOnHost(this.options.db, id)).map((r) => r.id).sort();
    // A snapshot only this host holds would be stranded with it (restorable nowhere, yet
    // listed); one on the shared store outlives it. Its agent is asked first whether an upload
    // it retried has finished since.
    const snapshots = await this.onlyOnHost(id);
    if ((live.length > 0 || snapshots.length > 0) && !force) {
      const held = [
        ...(live.length > 0 ? [`${live.length} sandbox(es): ${live.join(", ")}`] : []),
        ...(snapshots.length > 0
          ? [`${snapshots.length} snapshot(s): ${snapshots.join(", ")}`]
          : []),
      ];
      throw new ServiceError(
        "host_in_use",
        `host ${id} holds ${held.join("; ")}; destroy them, or delete with force=true to destroy them with the host`,
      );
    }
    // Nothing new lands there while its sandboxes are destroyed.
    await setHostDrained(this.options.db, id, true);
    for (const sandboxId of live) await this.destroyOne(principal, sandboxId);
    const left = (await sandboxesOnHost(this.options.db, id)).map((r) => r.id);
    if (left.length > 0) {
      // Created on it between the listing and the drain: the caller sees them, nothing is lost.
      throw new ServiceError(
        "host_in_use",
        `host ${id} still holds ${left.join(", ")}; delete it again`,
      );
    }
    // The artifacts of the snapshots only it held go with the host; their records with its row.
    const deletedSnapshots = await this.options.db.transaction(async (tx) => {
      const gone = await deleteSnapshotRowsOnlyOnHost(tx, id);
      await deleteHostRow(tx, id, principal.keyId || null);
      return gone;
    });
    await this.options.registry.sync();
    await this.options.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "host.delete",
      outcome: "ok",
      detail: { hostId: id, url: host.url, force, destroyedSandboxes: live, deletedSnapshots },
    });
    this.options.logger.info({ hostId: id, destroyed: live, deletedSnapshots }, "host deleted");
    return { destroyedSandboxes: live };
  }

  /** The snapshots only this host holds, after asking it about those not yet recorded stored. */
  private async onlyOnHost(hostId: string): Promise<string[]> {
    const { db, registry } = this.options;
    for (const snapshotId of await snapshotIdsOnlyOnHost(db, hostId)) {
      const row = await findSnapshotById(db, snapshotId);
      if (row) await refreshStored(db, registry, row);
    }
    return snapshotIdsOnlyOnHost(db, hostId);
  }

  /** Destroys one sandbox of a host being deleted; its record ends stopped either way. */
  private async destroyOne(principal: Principal, sandboxId: string): Promise<void> {
    const { db } = this.options;
    const claimed = await updateSandbox(
      db,
      { id: sandboxId, states: DESTROYABLE },
      {
        state: "stopping",
        stopReason: "destroyed",
        opDeadlineSeconds: this.options.stopDeadlineSeconds,
      },
    );
    // Already stopping (another destroy began): finished here, as the lifecycle would.
    const row = claimed ?? (await findSandboxInState(db, sandboxId, "stopping"));
    if (row) await this.options.sandboxes.runDestroy(row, { actor: "api", principal });
    // The host did not answer: its row stays stopping for a retry that could only go to a
    // host about to be deleted. It ends here instead.
    const ended = await updateSandbox(
      db,
      { id: sandboxId, states: ["stopping"] },
      { state: "stopped", opDeadlineSeconds: null },
    );
    if (ended) {
      this.options.logger.warn({ sandboxId }, "its host did not destroy it; ended with the host");
    }
  }
}
