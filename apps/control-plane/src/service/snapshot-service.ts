import {
  checkForkCount,
  checkSnapshotName,
  errorMessage,
  isSnapshotId,
  LIMITS,
} from "@wrenn/contract";
import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import { type HostClient, HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { findSandbox } from "../store/sandbox-store.js";
import {
  deleteSnapshotRow,
  findSnapshot,
  insertSnapshot,
  listSnapshots,
  markSnapshotStored,
  type SnapshotRecord,
} from "../store/snapshot-store.js";
import { hostUnavailable, ServiceError, sandboxNotFound, validated } from "./errors.js";
import { fromHostError } from "./host-refusal.js";
import { newSnapshotId } from "./ids.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import type { SandboxService } from "./sandbox-service.js";
import type { OwnedSandbox, Principal, Resources } from "./sandbox-types.js";

const SNAPSHOT_ID = /^snap-[0-9a-f]{8}$/;
/** Forks restored at once: each is a runsc restore, and hosts are small. */
const FORK_CONCURRENCY = 2;

/** What a create needs to restore a snapshot: where it is and what it was. */
export interface SnapshotSource {
  id: string;
  /** The host that took it (and holds its working copy). */
  hostId: string;
  /** On the shared artifact store: any host with its template can download and restore it. */
  stored: boolean;
  template: string;
  resources: Resources;
}

/**
 * Where a create from a snapshot may go. Not on the store yet: only its host has it, so there.
 * Stored: wherever the scheduler picks, its host first when that one can take it (no download).
 */
export function snapshotPlacement(
  snap: Pick<SnapshotSource, "hostId" | "stored">,
): { hostId: string } | { preferHostId: string } {
  return snap.stored ? { preferHostId: snap.hostId } : { hostId: snap.hostId };
}

/**
 * Asks the host of a snapshot not recorded as stored whether a retried upload has finished
 * since, and records it if so. Best effort: a host that does not answer leaves it as it was.
 */
export async function refreshStored(
  db: Queryable,
  registry: HostRegistry,
  row: SnapshotRecord,
): Promise<SnapshotRecord> {
  if (row.storedAt) return row;
  const known = registry.all().some((h) => h.id === row.hostId);
  const held = known
    ? await registry
        .client(row.hostId)
        .getSnapshot(row.id)
        .catch(() => undefined)
    : undefined;
  if (!held?.stored) return row;
  await markSnapshotStored(db, row.id);
  return { ...row, storedAt: new Date() };
}

export interface SnapshotPage {
  snapshots: SnapshotRecord[];
  nextCursor?: string;
}

export type ForkOutcome = { sandbox: OwnedSandbox } | { error: ServiceError };

export const snapshotNotFound = (id: string) =>
  new ServiceError("snapshot_not_found", errorMessage("snapshot_not_found", { id }));

/**
 * The snapshot a create's template names, if it names one (a snapshot id): the caller's own,
 * or snapshot_not_found (another owner's reads the same as an unknown one).
 */
export async function snapshotSourceFor(
  db: Queryable,
  registry: HostRegistry,
  principal: Principal,
  template: string | undefined,
): Promise<SnapshotSource | undefined> {
  if (!isSnapshotId(template)) return undefined;
  const row = await findSnapshot(db, principal.ownerId, template);
  if (!row) throw snapshotNotFound(template);
  return sourceOf(await refreshStored(db, registry, row));
}

function sourceOf(row: SnapshotRecord): SnapshotSource {
  return {
    id: row.id,
    hostId: row.hostId,
    stored: row.storedAt !== null,
    template: row.template,
    resources: { vcpus: row.vcpus, memoryMb: row.memoryMb, diskMb: row.diskMb },
  };
}

/**
 * Snapshots of running sandboxes and forks, once for the REST API, the E2B API and the CLI.
 * A snapshot lives on the host that took it, and sandboxes made from it are placed there,
 * until that host reports it on the shared artifact store (stored_at): then they may go to any
 * host, which downloads it, and the snapshot outlives its host (snapshotPlacement).
 */
export class SnapshotService {
  constructor(
    private readonly options: {
      db: Queryable;
      registry: HostRegistry;
      sandboxes: SandboxService;
      logger: Logger;
    },
  ) {}

  /** Saves a running sandbox of the caller's; it keeps running, with its id and end time. */
  async snapshot(
    principal: Principal,
    sandboxId: string,
    input: { name?: unknown } = {},
  ): Promise<SnapshotRecord> {
    const name = validated(() => checkSnapshotName(input.name));
    const { row, id, sizeBytes, stored } = await this.takeOnHost(principal, sandboxId);
    try {
      return await insertSnapshot(this.options.db, {
        id,
        ownerId: principal.ownerId,
        name: name ?? null,
        sourceSandboxId: row.id,
        hostId: row.hostId as string,
        template: row.template,
        vcpus: row.resources.vcpus,
        memoryMb: row.resources.memoryMb,
        diskMb: row.resources.diskMb,
        sizeBytes,
        stored,
      });
    } catch (error) {
      // No record, no artifact: nothing the owner cannot see is left on the host.
      await this.options.registry
        .client(row.hostId as string)
        .deleteSnapshot(id)
        .catch(() => {});
      throw error;
    }
  }

  async list(
    principal: Principal,
    query: { sandboxId?: string; name?: string; limit?: number; cursor?: string },
  ): Promise<SnapshotPage> {
    const limit = query.limit ?? LIMITS.listLimit.default;
    const rows = await listSnapshots(this.options.db, principal.ownerId, {
      sourceSandboxId: query.sandboxId,
      name: query.name,
      limit: limit + 1,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, SNAPSHOT_ID),
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      snapshots: page,
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor({ startedAt: last.createdAt, id: last.id }) }
        : {}),
    };
  }

  async get(principal: Principal, id: string): Promise<SnapshotRecord> {
    const row = isSnapshotId(id)
      ? await findSnapshot(this.options.db, principal.ownerId, id)
      : undefined;
    if (!row) throw snapshotNotFound(id);
    return row;
  }

  /**
   * Removes the artifact from its host (whose agent removes the stored copy too), then the
   * record; snapshot_not_found if unknown. A stored snapshot whose host was deleted is removed
   * from the store through another host that shares it, and the copies other hosts downloaded
   * are removed as well (best effort: a host that does not answer keeps its copy).
   */
  async delete(principal: Principal, id: string): Promise<void> {
    const row = await this.get(principal, id);
    const remover = await this.remover(row);
    try {
      await remover.deleteSnapshot(row.id);
    } catch (error) {
      if (error instanceof HostError) throw fromHostError(error, "delete the snapshot");
      throw error;
    }
    await deleteSnapshotRow(this.options.db, principal.ownerId, row.id);
    if (!row.storedAt) return;
    const others = this.options.registry.all().filter((h) => h.client !== remover);
    await Promise.all(
      others.map((h) =>
        h.client
          .deleteSnapshot(row.id)
          .catch((error: Error) =>
            this.options.logger.warn(
              { snapshotId: row.id, hostId: h.id, err: error.message },
              "a host kept its downloaded copy of a deleted snapshot",
            ),
          ),
      ),
    );
  }

  /**
   * E2B's fork: one snapshot of the running source (which keeps running, with its id and end
   * time), `count` sandboxes restored from it, each succeeding or failing on its own; the
   * snapshot is removed afterwards. The forks have the source's template, sizes, network and
   * metadata.
   */
  async fork(
    principal: Principal,
    sandboxId: string,
    input: { count?: unknown; timeoutSeconds?: number },
  ): Promise<ForkOutcome[]> {
    const count = validated(() => checkForkCount(input.count));
    const { row, id } = await this.takeOnHost(principal, sandboxId);
    // Pinned to its host even when stored: the forks are made at once, where it already is.
    const source: SnapshotSource = {
      id,
      hostId: row.hostId as string,
      stored: false,
      template: row.template,
      resources: row.resources,
    };
    const outcomes: ForkOutcome[] = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        try {
          const sandbox = await this.options.sandboxes.create(principal, {
            fromSnapshot: source,
            timeoutSeconds: input.timeoutSeconds,
            metadata: row.metadata,
            allowInternet: row.allowInternet,
            network: {
              allowOut: row.network.allowOut,
              denyOut: row.network.denyOut,
              rules: row.network.rules,
            },
          });
          outcomes[i] = { sandbox };
        } catch (error) {
          outcomes[i] = {
            error:
              error instanceof ServiceError
                ? error
                : new ServiceError("internal_error", (error as Error).message),
          };
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(FORK_CONCURRENCY, count) }, worker));
    } finally {
      await this.options.registry
        .client(source.hostId)
        .deleteSnapshot(id)
        .catch((error: Error) =>
          this.options.logger.warn(
            { snapshotId: id, err: error.message },
            "removing a fork's snapshot",
          ),
        );
    }
    return outcomes;
  }

  /**
   * The host that deletes a snapshot: its own while it is registered; for a stored one whose
   * host is gone, the first reachable host on the shared store (its agent removes the copy).
   */
  private async remover(row: SnapshotRecord): Promise<HostClient> {
    const { registry } = this.options;
    const home = registry.all().find((h) => h.id === row.hostId);
    if (home || !row.storedAt) return registry.client(row.hostId);
    for (const host of registry.all()) {
      const status = await host.client.hostStatus().catch(() => undefined);
      if (status?.sharedStore) return host.client;
    }
    throw hostUnavailable(
      `snapshot ${row.id} is on the shared store, but no host that shares the store answers; try again when one is online`,
    );
  }

  /**
   * Snapshots the caller's running sandbox on its host under a new id (mounts_not_allowed for
   * one with host directories mounted, unless the caller is an admin).
   */
  private async takeOnHost(principal: Principal, sandboxId: string) {
    const row = await findSandbox(this.options.db, sandboxId, principal.ownerId);
    if (!row) throw sandboxNotFound(sandboxId);
    if (row.state !== "running" || !row.hostId) {
      throw new ServiceError(
        "sandbox_not_running",
        `sandbox ${sandboxId} is ${row.state}; only a running sandbox can be snapshotted`,
      );
    }
    const id = newSnapshotId();
    const client = this.options.registry.client(row.hostId);
    try {
      // A snapshot carries the sandbox's host-directory mounts to every sandbox made from it:
      // as with a create that asks for mounts, only an admin may.
      if (principal.role !== "admin" && (await client.getSandbox(row.id))?.mounts?.length) {
        throw new ServiceError(
          "mounts_not_allowed",
          `sandbox ${sandboxId} has host directories mounted: only an admin API key may snapshot or fork it`,
        );
      }
      const { sizeBytes, stored } = await client.snapshotSandbox(row.id, id);
      return { row, id, sizeBytes, stored };
    } catch (error) {
      if (error instanceof HostError) throw fromHostError(error, "snapshot the sandbox");
      throw error;
    }
  }
}
