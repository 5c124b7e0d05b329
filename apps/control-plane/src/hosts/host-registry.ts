import { createHash } from "node:crypto";
import type { Queryable } from "../db/database.js";
import { hostUnavailable } from "../service/errors.js";
import { upsertHost } from "../store/host-store.js";
import { createConnectHostClient } from "./connect-host-client.js";
import type { HostClient } from "./host-client.js";

export interface RegisteredHost {
  id: string;
  url: string;
  client: HostClient;
}

/**
 * Derived from the URL so every control plane configured with the same agent agrees on the id
 * without talking to each other or to the agent first.
 */
export function hostIdForUrl(url: string): string {
  const normalized = new URL(url).toString();
  return `host-${createHash("sha256").update(normalized).digest("hex").slice(0, 8)}`;
}

/** The hosts this control plane can reach. Today: the one local host from configuration. */
export class HostRegistry {
  private readonly hosts = new Map<string, RegisteredHost>();

  constructor(private readonly db: Queryable) {}

  async register(url: string, token?: string): Promise<RegisteredHost> {
    const id = hostIdForUrl(url);
    await upsertHost(this.db, id, url);
    const host = { id, url, client: createConnectHostClient({ url, token }) };
    this.hosts.set(id, host);
    return host;
  }

  all(): RegisteredHost[] {
    return [...this.hosts.values()];
  }

  client(hostId: string): HostClient {
    const host = this.hosts.get(hostId);
    if (!host) {
      throw hostUnavailable(`host ${hostId} is not configured on this control plane`);
    }
    return host.client;
  }
}
