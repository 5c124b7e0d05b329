import { randomInt } from "node:crypto";
import type { SchedulerPolicy } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { hostUnavailable, ServiceError } from "../service/errors.js";
import { COMPUTE_STATES, STORAGE_STATES } from "../service/sandbox-types.js";
import { findHost, type HostRecord, listHosts, recordHostTemplates } from "../store/host-store.js";
import { placedOnHost } from "../store/sandbox-usage-store.js";
import type { BuildPlacementRequest, Placement, PlacementRequest, Scheduler } from "./scheduler.js";

/** A host that can take the request, with what is committed on it (database, not the agent). */
export interface Candidate {
  host: HostRecord;
  committed: { vcpus: number; memoryMb: number };
}

/** Orders candidates; the first is used. Exported for the schedulers' unit tests. */
export type Policy = (candidates: Candidate[]) => Candidate;

/** Each ready host in turn (by id), whatever their load. */
export function roundRobin(): Policy {
  let next = 0;
  return (candidates) => {
    const sorted = [...candidates].sort((a, b) => a.host.id.localeCompare(b.host.id));
    const chosen = sorted[next % sorted.length]!;
    next = (next + 1) % Number.MAX_SAFE_INTEGER;
    return chosen;
  };
}

/** The busier resource of a host, as a fraction of what it has: CPU and memory committed. */
export function load(c: Candidate): number {
  const total = c.host.capacityTotal;
  if (!total) return 1;
  const cpu = total.vcpus > 0 ? c.committed.vcpus / total.vcpus : 0;
  const memory = total.memoryMb > 0 ? c.committed.memoryMb / total.memoryMb : 0;
  return Math.max(cpu, memory);
}

/**
 * Least loaded of K hosts drawn at random (the "power of K choices"): nearly as good as
 * scanning every host, and control planes sharing a database do not all pile onto the same
 * emptiest host between two heartbeats.
 */
export function leastLoadedOfK(k: number, draw: (n: number) => number = randomInt): Policy {
  return (candidates) => {
    const pool = [...candidates];
    const sample: Candidate[] = [];
    while (sample.length < k && pool.length > 0) {
      sample.push(pool.splice(draw(pool.length), 1)[0]!);
    }
    return sample.reduce((best, c) => (load(c) < load(best) ? c : best));
  };
}

/**
 * The candidate a request gets: its preferred host when that is among the candidates (so it is
 * online, undrained, and has the template and room), else the policy's pick.
 */
export function choose(candidates: Candidate[], policy: Policy, preferHostId?: string): Candidate {
  const preferred =
    preferHostId === undefined ? undefined : candidates.find((c) => c.host.id === preferHostId);
  return preferred ?? policy(candidates);
}

export function policyFor(name: SchedulerPolicy, k: number): Policy {
  return name === "round-robin" ? roundRobin() : leastLoadedOfK(k);
}

/**
 * Placement over every host that is online and not drained: those holding the template with room for the
 * sandbox (memory and disk reported by the host minus what the database has placed there)
 * are the candidates, and the policy picks one. None: no_host_available, before anything is
 * created. While no host is registered the single-host scheduler decides, as it always did.
 */
export class FleetScheduler implements Scheduler {
  constructor(
    private readonly db: Queryable,
    private readonly registry: HostRegistry,
    private readonly single: Scheduler,
    private readonly policy: Policy,
  ) {}

  private fleet(): boolean {
    return this.registry.all().some((h) => h.kind === "registered");
  }

  /** Online hosts that take new sandboxes (a drained one does not). */
  private async online(): Promise<HostRecord[]> {
    const known = new Set(this.registry.all().map((h) => h.id));
    return (await listHosts(this.db)).filter(
      (h) => h.status === "online" && !h.drained && known.has(h.id),
    );
  }

  /** The single host's placement, unless an admin drained it. */
  private async undrained(placement: Placement): Promise<Placement> {
    if ((await findHost(this.db, placement.hostId))?.drained) {
      throw new ServiceError(
        "no_host_available",
        `host ${placement.hostId} is drained; undrain it (wrenn hosts undrain) to place sandboxes there`,
      );
    }
    return placement;
  }

  async templatesChanged(hostId: string): Promise<void> {
    const host = this.registry.all().find((h) => h.id === hostId);
    if (host?.kind !== "registered") return this.single.templatesChanged(hostId);
    // A registered host reports its templates with each heartbeat; a sandbox created right
    // after a build there must not wait for the next one.
    await recordHostTemplates(this.db, hostId, await host.client.listTemplates());
  }

  /**
   * A build goes where a sandbox of its parent would go: among online hosts holding the parent
   * template (any online host for an image), those with room for the build's memory, picked by
   * the same policy, so builds spread like sandboxes instead of all landing on the first host.
   */
  async placeBuild(request: BuildPlacementRequest = {}): Promise<Placement> {
    if (!this.fleet()) return this.undrained(await this.single.placeBuild(request));
    const online = await this.online();
    const holding = request.fromTemplate
      ? online.filter((h) => h.templates.some((t) => t.name === request.fromTemplate))
      : online;
    if (online.length > 0 && holding.length === 0) {
      throw new ServiceError(
        "template_not_found",
        `template ${request.fromTemplate} is on none of the ${online.length} online hosts`,
      );
    }
    const candidates = await this.withRoom(holding, { memoryMb: request.memoryMb ?? 0, diskMb: 0 });
    if (candidates.length === 0) {
      throw new ServiceError(
        "no_host_available",
        online.length === 0
          ? "no host is online to build on"
          : `none of the ${holding.length} online hosts that could build this has room for ${request.memoryMb} MiB memory`,
      );
    }
    const { host } = this.policy(candidates);
    return { hostId: host.id, client: this.registry.client(host.id) };
  }

  /** The hosts with room for this much memory and disk beside what the database placed there. */
  private async withRoom(
    hosts: HostRecord[],
    need: { memoryMb: number; diskMb: number },
    sandboxId?: string,
  ): Promise<Candidate[]> {
    const candidates: Candidate[] = [];
    for (const host of hosts) {
      const placed = await placedOnHost(
        this.db,
        host.id,
        COMPUTE_STATES,
        STORAGE_STATES,
        sandboxId,
      );
      const total = host.capacityTotal;
      if (total && total.memoryMb > 0) {
        const diskFree = total.diskMb > 0 ? total.diskMb - placed.storageMb : Infinity;
        if (need.memoryMb > total.memoryMb - placed.memoryMb || need.diskMb > diskFree) continue;
      }
      candidates.push({ host, committed: { vcpus: placed.vcpus, memoryMb: placed.memoryMb } });
    }
    return candidates;
  }

  async place(request: PlacementRequest): Promise<Placement> {
    if (!this.fleet()) return this.undrained(await this.single.place(request));
    const online = (await this.online()).filter(
      (h) => request.hostId === undefined || h.id === request.hostId,
    );
    if (request.hostId !== undefined && online.length === 0) {
      throw hostUnavailable(
        `host ${request.hostId}, which the sandbox must go to (it holds its snapshot, or the sandbox moves there), is not online or is drained`,
      );
    }
    const withTemplate = online.filter((h) => h.templates.some((t) => t.name === request.template));
    if (online.length > 0 && withTemplate.length === 0) {
      throw new ServiceError(
        "template_not_found",
        `template ${request.template} is on none of the ${online.length} online hosts`,
      );
    }
    const candidates = await this.withRoom(withTemplate, request.resources, request.sandboxId);
    if (candidates.length === 0) {
      throw new ServiceError(
        "no_host_available",
        online.length === 0
          ? "no host is online"
          : `none of the ${withTemplate.length} online hosts with template ${request.template} has room for ${request.resources.memoryMb} MiB memory and ${request.resources.diskMb} MiB disk`,
      );
    }
    const { host } = choose(candidates, this.policy, request.preferHostId);
    return { hostId: host.id, client: this.registry.client(host.id) };
  }
}
