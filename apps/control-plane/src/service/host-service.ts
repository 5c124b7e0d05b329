import type { Queryable } from "../db/database.js";
import type { HostMonitor } from "../hosts/host-monitor.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { type HostRecord, listHosts } from "../store/host-store.js";
import type { ApiKeyService } from "./api-key-service.js";
import type { Principal } from "./sandbox-types.js";

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
}
