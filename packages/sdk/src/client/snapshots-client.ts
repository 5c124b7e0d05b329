// /v1/snapshots and /v1/sandboxes/{id}/snapshots|fork: saved running sandboxes and forks. A
// snapshot's id is a template: `Sandbox.create(snapshot.id)` restores it.
import type {
  ForkBody,
  ForkResponse,
  ListSnapshotsQuery,
  Snapshot,
  SnapshotPage,
} from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { enc, wireObject } from "./wire-object.js";

/** A snapshot and a fork write the sandbox's memory and disk: longer than a usual request. */
const SAVE_TIMEOUT_MS = 600_000;

export class SnapshotsClient {
  constructor(private readonly api: ApiClient) {}

  /** Saves a running sandbox (memory, processes, files); it keeps running. */
  async create(sandboxId: string, body: { name?: string } = {}): Promise<Snapshot> {
    const created = await this.api.json({
      method: "POST",
      path: `/v1/sandboxes/${enc(sandboxId)}/snapshots`,
      body,
      timeoutMs: Math.max(this.api.config.requestTimeoutMs, SAVE_TIMEOUT_MS),
    });
    return wireObject<Snapshot>(created, "snapshot");
  }

  /** A page of the caller's snapshots, newest first (`nextCursor` continues it). */
  async list(query: ListSnapshotsQuery = {}): Promise<SnapshotPage> {
    const body = await this.api.json({ path: "/v1/snapshots", query });
    return wireObject<SnapshotPage>(body, "snapshotPage", ["snapshots"]);
  }

  async get(id: string): Promise<Snapshot> {
    return wireObject<Snapshot>(
      await this.api.json({ path: `/v1/snapshots/${enc(id)}` }),
      "snapshot",
    );
  }

  async delete(id: string): Promise<void> {
    await this.api.json({ method: "DELETE", path: `/v1/snapshots/${enc(id)}` });
  }

  /** `count` sandboxes from one snapshot of a running sandbox; each entry a sandbox or an error. */
  async fork(sandboxId: string, body: ForkBody = {}): Promise<ForkResponse> {
    const forked = await this.api.json({
      method: "POST",
      path: `/v1/sandboxes/${enc(sandboxId)}/fork`,
      body,
      timeoutMs: Math.max(this.api.config.requestTimeoutMs, SAVE_TIMEOUT_MS),
    });
    return wireObject<ForkResponse>(forked, "forkResponse", ["forks"]);
  }
}
