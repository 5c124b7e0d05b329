import type { HostClient } from "../hosts/host-client.js";
import type { Resources } from "../service/sandbox-types.js";

export interface PlacementRequest {
  template: string;
  resources: Resources;
  /** Only this host (the one holding the snapshot the sandbox restores, or a move's target). */
  hostId?: string;
  /**
   * Taken when it is a candidate (online, not drained, with the template and room), whatever
   * the policy says: the host a hibernated sandbox left, which may still hold its checkpoint
   * (with a local-directory artifact store, it is the only host that does).
   */
  preferHostId?: string;
  /** The sandbox being placed when it already has a row (a resume): not counted as placed. */
  sandboxId?: string;
}

/** What a template build needs of its host. */
export interface BuildPlacementRequest {
  /** The host template the build starts from: only hosts holding it can build. */
  fromTemplate?: string;
  /** The build's own memory (its step sandboxes), which must fit beside what is placed. */
  memoryMb?: number;
}

export interface Placement {
  hostId: string;
  client: HostClient;
}

/**
 * Chooses the host for a new sandbox, or explains why none can take it (ServiceError:
 * template_not_found, no_capacity, host_unavailable). Multi-host placement plugs in here.
 */
export interface Scheduler {
  place(request: PlacementRequest): Promise<Placement>;
  /**
   * The host a template build runs on: one holding its parent template, with room for it
   * (host_unavailable, template_not_found or no_host_available when none is).
   */
  placeBuild(request?: BuildPlacementRequest): Promise<Placement>;
  /** A build on this host ended: what it reports (its templates) is read again now. */
  templatesChanged(hostId: string): Promise<void>;
}
