import {
  checkForkCount,
  checkSnapshotName,
  errorMessage,
  isSnapshotId,
  LIMITS,
} from "@wrenn/contract";
import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import { HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { findSandbox } from "../store/sandbox-store.js";
import {
  deleteSnapshotRow,
  findSnapshot,
  insertSnapshot,
  listSnapshots,
  type SnapshotRecord,
} from "../store/snapshot-store.js";
import { ServiceError, sandboxNotFound, validated } from "./errors.js";
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
  hostId: string;
  template: string;
  resources: Resources;
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
  principal: Principal,
  template: string | undefined,
): Promise<SnapshotSource | undefined> {
  if (!isSnapshotId(template)) return undefined;
  const row = await findSnapshot(db, principal.ownerId, template);
  if (!row) throw snapshotNotFound(template);
  return sourceOf(row);
}

function sourceOf(row: SnapshotRecord): SnapshotSource {
  return {
    id: row.id,
    hostId: row.hostId,
    template: row.template,
    resources: { vcpus: row.vcpus, memoryMb: row.memoryMb, diskMb: row.diskMb },
  };
}

/**
 * Snapshots of running sandboxes and forks, once for the REST API, the E2B API and the CLI.
 * A snapshot lives on the host that took it; sandboxes made from it are placed there. (With a
 * shared artifact store, agents also upload it and any agent can download it; placing
 * elsewhere needs the agent to report whether the upload is done: not yet recorded here.)
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
    const { row, id, sizeBytes } = await this.takeOnHost(principal, sandboxId);
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

  /** Removes the artifact from its host, then the record; snapshot_not_found if unknown. */
  async delete(principal: Principal, id: string): Promise<void> {
    const row = await this.get(principal, id);
    try {
      await this.options.registry.client(row.hostId).deleteSnapshot(row.id);
    } catch (error) {
      if (error instanceof HostError) throw fromHostError(error, "delete the snapshot");
      throw error;
    }
    await deleteSnapshotRow(this.options.db, principal.ownerId, row.id);
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
    const source: SnapshotSource = {
      id,
      hostId: row.hostId as string,
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
      const { sizeBytes } = await client.snapshotSandbox(row.id, id);
      return { row, id, sizeBytes };
    } catch (error) {
      if (error instanceof HostError) throw fromHostError(error, "snapshot the sandbox");
      throw error;
    }
  }
}
