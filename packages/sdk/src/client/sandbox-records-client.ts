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

  /**
   * A file of the sandbox, streamed: through envd while it runs; from its disk once it failed
   * (state `error`: its processes are gone, its files are kept), read on its host by a
   * read-only gVisor container, so a link is followed inside the sandbox. A relative path
   * starts in the user's home. Throws FileNotFoundError for no such file, and `files_unavailable`
   * (409) when the failed sandbox's disk is gone.
   */
  async readFile(
    idOrName: string,
    path: string,
    opts: { user?: string; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return this.stream(`/v1/sandboxes/${enc(idOrName)}/files`, path, opts);
  }

  /**
   * A tar (uncompressed) of a failed sandbox's directory tree, streamed, read from its disk as
   * readFile is; names are relative to the path's parent, links are stored as links. Refused
   * (409) for a sandbox that is not in state `error`.
   */
  async archive(
    idOrName: string,
    path: string,
    opts: { user?: string; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return this.stream(`/v1/sandboxes/${enc(idOrName)}/archive`, path, opts);
  }

  private async stream(
    route: string,
    path: string,
    opts: { user?: string; signal?: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>> {
    // No overall timeout: a transfer takes as long as its size needs (the host bounds a read).
    const response = await this.api.send({
      path: route,
      query: { path, user: opts.user },
      signal: opts.signal,
      timeoutMs: 0,
    });
    if (!response.body) return new ReadableStream({ start: (c) => c.close() });
    return response.body;
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
