import type { Queryable } from "../db/database.js";
import type { HostMonitor } from "../hosts/host-monitor.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { hostUnavailable, ServiceError } from "../service/errors.js";
import { COMPUTE_STATES, STORAGE_STATES } from "../service/sandbox-types.js";
import { isHostTemplateName } from "../service/template-service.js";
import { findHost, type HostRecord } from "../store/host-store.js";
import { placedOnHost } from "../store/sandbox-usage-store.js";
import type { Placement, PlacementRequest, Scheduler } from "./scheduler.js";

const TEMPLATE_RECHECK_MS = 2000;

/**
 * Everything goes to the one configured host. Memory and disk must fit in what the host reports
 * minus what the database has placed there; vcpus may be overcommitted, as sandboxes mostly idle.
 */
export class SingleHostScheduler implements Scheduler {
  constructor(
    private readonly db: Queryable,
    private readonly registry: HostRegistry,
    private readonly monitor: HostMonitor,
    private readonly hostId: string,
  ) {}

  private async host(fresh: boolean): Promise<HostRecord> {
    let host = fresh ? null : await findHost(this.db, this.hostId);
    if (host?.status !== "online") host = await this.monitor.refresh(this.hostId);
    if (host?.status !== "online") {
      throw hostUnavailable(
        `the host agent at ${host?.url ?? this.hostId} is not reachable${host?.lastError ? `: ${host.lastError}` : ""}`,
      );
    }
    return host;
  }

  /** The one host builds everything; whether it holds the parent is the build's own error. */
  async placeBuild(): Promise<Placement> {
    const host = await this.host(false);
    return { hostId: host.id, client: this.registry.client(host.id) };
  }

  async templatesChanged(hostId: string): Promise<void> {
    await this.monitor.refresh(hostId);
  }

  async place(request: PlacementRequest): Promise<Placement> {
    if (request.hostId !== undefined && request.hostId !== this.hostId) {
      throw hostUnavailable(`host ${request.hostId}, which holds the snapshot, is not this one`);
    }
    let host = await this.host(false);
    const stale = !host.lastSeenAt || Date.now() - host.lastSeenAt.getTime() > TEMPLATE_RECHECK_MS;
    if (!host.templates.some((t) => t.name === request.template) && stale) {
      // It may have been built since the last heartbeat. Rechecked at most every few seconds,
      // so requests for unknown templates cannot flood the agent.
      host = await this.host(true);
    }
    if (!host.templates.some((t) => t.name === request.template)) {
      // Owners' builds from images are named through their owners only.
      const known =
        host.templates
          .map((t) => t.name)
          .filter((n) => !isHostTemplateName(n))
          .join(", ") || "none";
      throw new ServiceError(
        "template_not_found",
        `template ${request.template} does not exist (available: ${known})`,
      );
    }
    const total = host.capacityTotal;
    if (total && total.memoryMb > 0) {
      const placed = await placedOnHost(
        this.db,
        host.id,
        COMPUTE_STATES,
        STORAGE_STATES,
        request.sandboxId,
      );
      const memoryFree = total.memoryMb - placed.memoryMb;
      const diskFree =
        total.diskMb > 0 ? total.diskMb - placed.storageMb : Number.POSITIVE_INFINITY;
      if (request.resources.memoryMb > memoryFree || request.resources.diskMb > diskFree) {
        throw new ServiceError(
          "no_capacity",
          `host ${host.id} cannot take ${request.resources.memoryMb} MiB memory and ${request.resources.diskMb} MiB disk (free: ${memoryFree} MiB memory, ${diskFree} MiB disk)`,
        );
      }
    }
    return { hostId: host.id, client: this.registry.client(host.id) };
  }
}
