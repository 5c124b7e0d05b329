import type { HostClient } from "../hosts/host-client.js";
import type { Resources } from "../service/sandbox-types.js";

export interface PlacementRequest {
  template: string;
  resources: Resources;
  /** Only this host (the one holding the snapshot the sandbox restores). */
  hostId?: string;
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
  /** The host a template build runs on (host_unavailable when none is). */
  placeBuild(): Promise<Placement>;
  /** A build on this host ended: what it reports (its templates) is read again now. */
  templatesChanged(hostId: string): Promise<void>;
}
