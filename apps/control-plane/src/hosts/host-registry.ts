import { createHash } from "node:crypto";
import type { HostKind } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import type { TokenCipher } from "../secrets/token-cipher.js";
import { hostUnavailable } from "../service/errors.js";
import { listRegisteredHosts, upsertHost } from "../store/host-store.js";
import { createConnectHostClient } from "./connect-host-client.js";
import type { HostClient } from "./host-client.js";

export interface RegisteredHost {
  id: string;
  url: string;
  kind: HostKind;
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

/**
 * The hosts this control plane can reach, and one client per host (the pool): the configured
 * host from WRENN_AGENT_URL, and the registered hosts as the database lists them (loaded by
 * sync(), which the host monitor runs every tick, so a host another control plane registered
 * is reachable here too, and a deleted one is evicted).
 */
export class HostRegistry {
  private readonly hosts = new Map<string, RegisteredHost>();

  constructor(
    private readonly db: Queryable,
    private readonly cipher?: TokenCipher,
    /** PEM certificates trusted for agents reached over https (WRENN_AGENT_CA). */
    private readonly agentCa?: string,
  ) {}

  async register(url: string, token?: string): Promise<RegisteredHost> {
    const id = hostIdForUrl(url);
    await upsertHost(this.db, id, url);
    const host: RegisteredHost = {
      id,
      url,
      kind: "configured",
      client: createConnectHostClient({ url, token, ca: this.agentCa }),
    };
    this.hosts.set(id, host);
    return host;
  }

  /** Loads registered hosts added since the last sync and evicts those deleted. */
  async sync(): Promise<void> {
    if (!this.cipher) return;
    const rows = await listRegisteredHosts(this.db);
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      const known = this.hosts.get(row.id);
      if (known && known.url === row.url) continue;
      this.hosts.set(row.id, {
        id: row.id,
        url: row.url,
        kind: "registered",
        client: createConnectHostClient({
          url: row.url,
          token: this.cipher.open(row.agentTokenSealed),
          ca: this.agentCa,
        }),
      });
    }
    for (const host of this.hosts.values()) {
      if (host.kind === "registered" && !seen.has(host.id)) this.hosts.delete(host.id);
    }
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
