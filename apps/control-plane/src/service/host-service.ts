import type { Queryable } from "../db/database.js";
import type { HostMonitor } from "../hosts/host-monitor.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { type HostRecord, type HostTemplate, listHosts } from "../store/host-store.js";
import type { ApiKeyService } from "./api-key-service.js";
import type { Principal } from "./sandbox-types.js";

/** A template as one host holds it. */
export interface TemplateListing extends HostTemplate {
  hostId: string;
}

export class HostService {
  constructor(
    private readonly db: Queryable,
    private readonly registry: HostRegistry,
    private readonly monitor: HostMonitor,
    private readonly keys: ApiKeyService,
  ) {}

  /** Asks every configured host for its status first, so capacity figures are current. */
  async list(principal: Principal): Promise<HostRecord[]> {
    this.keys.requireAdmin(principal);
    await Promise.all(this.registry.all().map((host) => this.monitor.refresh(host.id)));
    return listHosts(this.db);
  }

  /** Every template every host has, by name, then host (asked of the hosts first, as list). */
  async templates(principal: Principal): Promise<TemplateListing[]> {
    const hosts = await this.list(principal);
    return hosts
      .flatMap((h) => h.templates.map((t) => ({ ...t, hostId: h.id })))
      .sort((a, b) => a.name.localeCompare(b.name) || a.hostId.localeCompare(b.hostId));
  }
}
