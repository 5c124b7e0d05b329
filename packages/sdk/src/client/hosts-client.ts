// /v1/hosts: the hosts that run sandboxes (admin keys only).
import type { Host, HostList } from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { wireObject } from "./wire-object.js";

export class HostsClient {
  constructor(private readonly api: ApiClient) {}

  /** Every host with its capacity, asked from each host agent at the time of the call. */
  async list(): Promise<Host[]> {
    const body = await this.api.json({ path: "/v1/hosts" });
    return wireObject<HostList>(body, "hosts", ["hosts"]).hosts;
  }
}
