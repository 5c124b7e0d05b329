// /v1/hosts: the hosts that run sandboxes (admin keys only).
import type { CreatedHostToken, DeletedHost, Host, HostDrain, HostList } from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { enc, wireObject } from "./wire-object.js";

export class HostsClient {
  constructor(private readonly api: ApiClient) {}

  /** Every host with its capacity, asked from each host agent at the time of the call. */
  async list(): Promise<Host[]> {
    const body = await this.api.json({ path: "/v1/hosts" });
    return wireObject<HostList>(body, "hosts", ["hosts"]).hosts;
  }

  /** A one-time registration token for a new host agent (shown once; only its hash is kept). */
  async createToken(opts: { expiresInSeconds?: number } = {}): Promise<CreatedHostToken> {
    const body = await this.api.json({
      method: "POST",
      path: "/v1/hosts/tokens",
      body: opts.expiresInSeconds === undefined ? {} : { expiresInSeconds: opts.expiresInSeconds },
    });
    return wireObject<CreatedHostToken>(body, "host token");
  }

  /**
   * Deletes a registered host. With sandboxes on it the server refuses (host_in_use, naming
   * them) unless `force`, which destroys them first. Its agent must register again.
   */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<DeletedHost> {
    const body = await this.api.json({
      method: "DELETE",
      path: `/v1/hosts/${enc(id)}`,
      query: opts.force ? { force: true } : {},
    });
    return wireObject<DeletedHost>(body, "deleted host", ["destroyedSandboxes"]);
  }

  /** No new sandboxes go to the host; those it holds keep running. Idempotent. */
  async drain(id: string): Promise<HostDrain> {
    const body = await this.api.json({ method: "POST", path: `/v1/hosts/${enc(id)}/drain` });
    return wireObject<HostDrain>(body, "host drain", ["pausedSandboxes"]);
  }

  /** The host takes new sandboxes again. Idempotent. */
  async undrain(id: string): Promise<HostDrain> {
    const body = await this.api.json({ method: "POST", path: `/v1/hosts/${enc(id)}/undrain` });
    return wireObject<HostDrain>(body, "host drain", ["pausedSandboxes"]);
  }
}
