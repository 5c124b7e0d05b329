// /v1/hosts: the hosts that run sandboxes (admin keys only).
import type { CreatedHostToken, Host, HostList } from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { wireObject } from "./wire-object.js";

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
}
