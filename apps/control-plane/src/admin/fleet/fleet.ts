// The admin's view across owners. The service layer scopes every sandbox operation by the
// caller's owner and has no cross-owner query, so the admin UI acts on another owner's sandbox
// through the service with a principal that carries that owner and the admin's own key id:
// ownership checks, pools, state transitions and audit stay in the service (events name the
// admin's key), and the UI duplicates none of them. Listing costs one query per owner.
import type { ApiDeps } from "../../api/api-deps.js";
import { ServiceError, sandboxNotFound } from "../../service/errors.js";
import { SANDBOX_ID_PATTERN } from "../../service/ids.js";
import type { Principal, Sandbox, SandboxState } from "../../service/sandbox-types.js";
import type { ApiKeyRecord } from "../../store/api-key-store.js";
import type { KeyUsage } from "../../store/sandbox-store.js";

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
  /** More matched than were read (per owner or in all). */
  truncated: boolean;
}

/** A sandbox as the admin pages show it: never with its envd token. */
function withoutToken(s: Sandbox & { envdAccessToken?: string }): Sandbox {
  const { envdAccessToken: _token, ...rest } = s;
  return rest;
}

const OWNER_CACHE_MAX = 10_000;

export class Fleet {
  /** Sandbox id → owner id; a sandbox never changes owner, so entries never go stale. */
  private readonly ownerOf = new Map<string, string>();

  constructor(private readonly deps: Pick<ApiDeps, "sandboxes" | "keys">) {}

  /** Acts on an owner's sandboxes as the admin (see the top of this file). */
  actingFor(admin: Principal, ownerId: string): Principal {
    return { keyId: admin.keyId, ownerId, role: "admin", name: admin.name };
  }

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
    const owners = (await this.owners(admin)).filter(
      (o) => filter.ownerId === undefined || o.id === filter.ownerId,
    );
    const pages = await Promise.all(
      owners.map((o) =>
        this.deps.sandboxes.list(this.actingFor(admin, o.id), {
          states: filter.states,
          hideFailedCreates: filter.hideFailedCreates,
          template: filter.template,
          search: filter.search,
          order: "desc",
          limit,
        }),
      ),
    );
    const all = pages.flatMap((p) => p.sandboxes);
    for (const s of all) this.remember(s);
    all.sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.id.localeCompare(a.id));
    return {
      sandboxes: all.slice(0, limit),
      truncated: all.length > limit || pages.some((p) => p.nextCursor !== null),
    };
  }

  /** Any owner's sandbox, with the principal to act on it as. */
  async find(admin: Principal, id: string): Promise<{ sandbox: Sandbox; actor: Principal }> {
    if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
    const known = this.ownerOf.get(id);
    const candidates = known ? [known] : (await this.owners(admin)).map((o) => o.id);
    for (const ownerId of candidates) {
      const actor = this.actingFor(admin, ownerId);
      try {
        const sandbox = withoutToken(await this.deps.sandboxes.get(actor, id));
        this.remember(sandbox);
        return { sandbox, actor };
      } catch (error) {
        if (!(error instanceof ServiceError && error.code === "sandbox_not_found")) throw error;
      }
    }
    throw sandboxNotFound(id);
  }

  /** What each key's sandboxes hold of its pools, active keys only. */
  async usage(admin: Principal): Promise<{ key: ApiKeyRecord; usage: KeyUsage }[]> {
    const keys = (await this.deps.keys.list(admin)).filter((k) => k.revokedAt === null);
    return Promise.all(
      keys.map(async (key) => {
        const { usage } = await this.deps.keys.current({
          ...this.actingFor(admin, key.ownerId),
          keyId: key.id,
        });
        return { key, usage };
      }),
    );
  }

  private remember(s: Sandbox): void {
    if (this.ownerOf.has(s.id)) return;
    if (this.ownerOf.size >= OWNER_CACHE_MAX) this.ownerOf.clear();
    this.ownerOf.set(s.id, s.ownerId);
  }
}
