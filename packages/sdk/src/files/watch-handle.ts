// A directory watch in progress: events go to the callback until stop() or the stream ends.
import type { WatchDirResponse } from "@wrenn/proto/filesystem";
import { errorFromEnvd } from "../error-mapping.js";
import { entryOf, eventTypeOf, type FilesystemEvent } from "./entry-info.js";

/** A directory watch started by `files.watchDir`; `stop()` ends it. */
export class WatchHandle {
  private readonly finished: Promise<void>;

  constructor(
    private readonly controller: AbortController,
    rest: AsyncIterator<WatchDirResponse>,
    private readonly onEvent: (event: FilesystemEvent) => unknown,
    private readonly onExit?: (error?: Error) => unknown,
    /** The watch had a timeoutMs: envd ending it at that deadline is a normal end. */
    private readonly bounded = false,
  ) {
    this.finished = this.consume(rest);
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.finished;
  }

  private async consume(rest: AsyncIterator<WatchDirResponse>): Promise<void> {
    let failure: Error | undefined;
    try {
      for (;;) {
        const next = await rest.next();
        if (next.done) break;
        const event = next.value.event;
        if (event.case !== "filesystem") continue;
        const type = eventTypeOf(event.value.type);
        if (type === undefined) continue;
        const entry = event.value.entry ? entryOf(event.value.entry) : undefined;
        await this.onEvent({ name: event.value.name, type, ...(entry ? { entry } : {}) });
      }
    } catch (error) {
      const mapped = errorFromEnvd(error, "file");
      const deadline = this.bounded && mapped.code === "deadline_exceeded";
      if (!this.controller.signal.aborted && !deadline) failure = mapped;
    }
    await this.onExit?.(failure);
  }
}
