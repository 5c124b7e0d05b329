// What the API keeps about a sandbox, without attaching to it: its record (with the envd
// token, for a `new Sandbox(...)` that must not resume it) and its audit trail.
import type { SandboxEventPage, SandboxEventsQuery } from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { type OwnedSandboxInfo, parseOwnedSandbox } from "../sandbox-info.js";
import { enc, wireObject } from "./wire-object.js";

export class SandboxRecordsClient {
  constructor(private readonly api: ApiClient) {}

  /** The sandbox by id or name, in whatever state it is (Sandbox.connect would resume it). */
  async info(idOrName: string): Promise<OwnedSandboxInfo> {
    return parseOwnedSandbox(await this.api.json({ path: `/v1/sandboxes/${enc(idOrName)}` }));
  }

  /** One page of its audit events, newest first; `nextBefore` pages back. */
  async events(idOrName: string, query: SandboxEventsQuery = {}): Promise<SandboxEventPage> {
    const body = await this.api.json({
      path: `/v1/sandboxes/${enc(idOrName)}/events`,
      query: { ...query },
    });
    return wireObject<SandboxEventPage>(body, "sandboxEvents", ["events"]);
  }
}
