// The admin's view across owners. The admin session's principal reaches every owner's
// sandboxes (its `reach`), which the sandbox service grants to admins alone: ownership checks,
// pools, state transitions and audit stay in the service (events name the admin's key and the
// sandbox's owner), and the UI duplicates none of them.
import type { ApiDeps } from "../../api/api-deps.js";
import type { Principal, Sandbox, SandboxState } from "../../service/sandbox-types.js";
import type { ApiKeyRecord } from "../../store/api-key-store.js";
import type { KeyUsage } from "../../store/sandbox-usage-store.js";

export interface Owner {
  id: string;
  name: string;
  keys: ApiKeyRecord[];
}

export interface FleetFilter {
  states?: readonly SandboxState[];
  /** Leave out old failed creates (the default view, as in the API's default list). */
  hideFailedCreates?: boolean;
  ownerId?: string;
  template?: string;
  /** Free text: a part of the id, the name, the template or a metadata key, value or key=value. */
  search?: string;
}

export interface FleetPage {
  sandboxes: Sandbox[];
  /** More matched than were read. */
  truncated: boolean;
}

/** A sandbox as the admin pages show it: never with its envd token. */
function withoutToken(s: Sandbox & { envdAccessToken?: string }): Sandbox {
  const { envdAccessToken: _token, ...rest } = s;
  return rest;
}

export class Fleet {
  constructor(private readonly deps: Pick<ApiDeps, "sandboxes" | "keys">) {}

  /** Every owner that has a key, revoked or not (a revoked key's sandboxes may still run). */
  async owners(admin: Principal): Promise<Owner[]> {
    const byId = new Map<string, Owner>();
    for (const key of await this.deps.keys.list(admin)) {
      let owner = byId.get(key.ownerId);
      if (!owner) {
        owner = { id: key.ownerId, name: key.ownerName, keys: [] };
        byId.set(key.ownerId, owner);
      }
      owner.keys.push(key);
    }
    return [...byId.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id),
    );
  }

  /** Newest first, at most `limit` in all. */
  async sandboxes(admin: Principal, filter: FleetFilter, limit: number): Promise<FleetPage> {
    const page = await this.deps.sandboxes.list(admin, {
      states: filter.states,
      hideFailedCreates: filter.hideFailedCreates,
      ownerId: filter.ownerId,
      template: filter.template,
      search: filter.search,
      order: "desc",
      limit,
    });
    return { sandboxes: page.sandboxes, truncated: page.nextCursor !== null };
  }

  /** Any owner's sandbox, as the admin pages show it. */
  async find(admin: Principal, id: string): Promise<Sandbox> {
    return withoutToken(await this.deps.sandboxes.get(admin, id));
  }

  /** What each key's sandboxes hold of its pools, active keys only. */
  async usage(admin: Principal): Promise<{ key: ApiKeyRecord; usage: KeyUsage }[]> {
    const keys = (await this.deps.keys.list(admin)).filter((k) => k.revokedAt === null);
    return Promise.all(
      keys.map(async (key) => ({
        key,
        usage: (await this.deps.keys.usageOf(admin, key.id)).usage,
      })),
    );
  }
}
