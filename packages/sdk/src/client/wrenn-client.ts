// The /v1 API beyond one sandbox's life: keys, hosts, templates, sandbox records and events,
// and the service's health. `Sandbox` stays the way to create and use a sandbox.
import type { Health } from "@wrenn/contract";
import { ApiClient } from "../api-client.js";
import { ConnectionConfig, type ConnectionOpts } from "../connection-config.js";
import { ApiKeysClient } from "./api-keys-client.js";
import { HostsClient } from "./hosts-client.js";
import { SandboxRecordsClient } from "./sandbox-records-client.js";
import { SnapshotsClient } from "./snapshots-client.js";
import { TemplatesClient } from "./templates-client.js";
import { wireObject } from "./wire-object.js";

export class WrennClient {
  /** The raw client, for a route that has no method here yet. */
  readonly api: ApiClient;
  /** API keys (admin keys only, except `current`). */
  readonly apiKeys: ApiKeysClient;
  /** Hosts (admin keys only). */
  readonly hosts: HostsClient;
  readonly templates: TemplatesClient;
  readonly sandboxes: SandboxRecordsClient;
  /** Snapshots of running sandboxes, and forks. */
  readonly snapshots: SnapshotsClient;

  constructor(opts: ConnectionOpts = {}) {
    this.api = new ApiClient(new ConnectionConfig(opts));
    this.apiKeys = new ApiKeysClient(this.api);
    this.hosts = new HostsClient(this.api);
    this.templates = new TemplatesClient(this.api);
    this.sandboxes = new SandboxRecordsClient(this.api);
    this.snapshots = new SnapshotsClient(this.api);
  }

  /** Whether the control plane is up, and its version. Needs no API key. */
  async health(): Promise<Health> {
    return wireObject<Health>(await this.api.json({ path: "/healthz", auth: false }), "health");
  }
}
