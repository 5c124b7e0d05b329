import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import type { ExitStatus } from "./exit-status.js";
import { exitStatus } from "./exit-status.js";
import { killSession } from "./kill-tree.js";
import type { Launched, LaunchedChild } from "./launch.js";
import { type OutputChunk, OutputRing, type OutputStream } from "./output-ring.js";

export const OUTPUT_RING_BYTES = 4 * 1024 * 1024;

export interface Subscriber {
  data(chunk: OutputChunk): void;
  end(status: ExitStatus): void;
  /**
   * Bytes handed to this subscriber and not yet sent on. Past OUTPUT_HIGH_WATER_BYTES the
   * process's pipes stop being read (it blocks on write, as with a slow terminal) until every
   * subscriber is back under OUTPUT_LOW_WATER_BYTES and calls drained(): a fast producer is
   * slowed down, never cut off or dropped.
   */
  backlog?(): number;
}

export const OUTPUT_HIGH_WATER_BYTES = 4 * 1024 * 1024;
export const OUTPUT_LOW_WATER_BYTES = 1024 * 1024;

export interface ProcessDescription {
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

export class ProcessInputError extends Error {}

// How long pipes may stay open after the process was killed and exited (a daemonised
// grandchild can hold them); after that the output is cut so the end event is not held back.
const PIPE_GRACE_AFTER_KILL_MS = 2000;

/** One process started by envd: its output buffer, its subscribers and its end. */
export class ManagedProcess {
  readonly ring = new OutputRing(OUTPUT_RING_BYTES);
  readonly #subscribers = new Set<Subscriber>();
  readonly #child: LaunchedChild;
  readonly #control: Launched["control"];
  #end: ExitStatus | undefined;
  #stdinOpen: boolean;
  #killed = false;
  #deadline: NodeJS.Timeout | undefined;
  #deadlineReached = false;
  #onEnd: (() => void) | undefined;
  #outputs: Readable[] = [];
  #held = false;

  constructor(
    readonly pid: number,
    readonly description: ProcessDescription,
    readonly tag: string | undefined,
    readonly isPty: boolean,
    launched: Launched,
    private readonly log: Logger,
  ) {
    this.#child = launched.child;
    this.#control = launched.control;
    this.#stdinOpen = launched.child.stdin !== null;
    for (const stream of isPty ? [this.#child.stdout] : [this.#child.stdout, this.#child.stderr]) {
      if (stream) this.#outputs.push(stream);
    }
    this.#child.stdin?.on("error", () => {
      this.#stdinOpen = false;
    });
    this.#control.on("error", () => {});
    this.#child.once("exit", () => {
      if (!this.#killed) return;
      setTimeout(() => {
        for (const stream of [this.#child.stdout, this.#child.stderr]) stream?.destroy();
      }, PIPE_GRACE_AFTER_KILL_MS).unref();
    });
    // wrenn-pty's stderr in pty mode carries nothing of the command's: it is read and dropped.
    // 'close' comes once the process exited and its pipes closed, as E2B's envd waits for both.
    launched.output.attach({
      data: (fd, data) => {
        if (isPty && fd === "stderr") return;
        this.#output(isPty ? "pty" : fd, data);
      },
      close: (code, signal) => this.#finish(exitStatus(code, signal)),
    });
  }

  get ended(): ExitStatus | undefined {
    return this.#end;
  }

  set onEnd(callback: () => void) {
    this.#onEnd = callback;
  }

  #output(stream: OutputStream, data: Buffer): void {
    const chunk = this.ring.append(
      stream,
      new Uint8Array(data.buffer, data.byteOffset, data.length),
    );
    for (const subscriber of this.#subscribers) subscriber.data(chunk);
    if (!this.#held && this.#behind(OUTPUT_HIGH_WATER_BYTES)) {
      this.#held = true;
      for (const stream of this.#outputs) stream.pause();
    }
  }

  #behind(bytes: number): boolean {
    for (const subscriber of this.#subscribers) {
      if ((subscriber.backlog?.() ?? 0) > bytes) return true;
    }
    return false;
  }

  /** A subscriber caught up (or left): read the pipes again once nobody is far behind. */
  drained(): void {
    if (!this.#held || this.#behind(OUTPUT_LOW_WATER_BYTES)) return;
    this.#held = false;
    for (const stream of this.#outputs) stream.resume();
  }

  #finish(status: ExitStatus): void {
    if (this.#end) return;
    this.#end = status;
    // Cleared only now: a leader that exited while its background children still hold the
    // output pipes is not done, and the deadline must still take those children down.
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#stdinOpen = false;
    this.#control.destroy();
    this.log.info(
      { pid: this.pid, exitCode: status.exitCode, status: status.status, bytes: this.ring.total },
      "process ended",
    );
    for (const subscriber of this.#subscribers) subscriber.end(status);
    this.#subscribers.clear();
    this.#onEnd?.();
  }

  /**
   * Replays buffered output from `replayFrom` (if given) and then follows live output. Runs
   * synchronously, so no chunk is missed or repeated between the replay and the live part.
   */
  subscribe(subscriber: Subscriber, replayFrom?: number): () => void {
    if (replayFrom !== undefined) {
      for (const chunk of this.ring.since(replayFrom)) subscriber.data(chunk);
    }
    if (this.#end) {
      subscriber.end(this.#end);
      return () => {};
    }
    this.#subscribers.add(subscriber);
    return () => {
      this.#subscribers.delete(subscriber);
      this.drained();
    };
  }

  /** Whether the Start deadline killed it: that stream must then end with deadline_exceeded. */
  get deadlineReached(): boolean {
    return this.#deadlineReached;
  }

  /** Kills the whole session at the deadline (Connect-Timeout-Ms on Start). */
  setDeadline(ms: number): void {
    if (this.#end) return;
    this.#deadline = setTimeout(() => {
      this.#deadlineReached = true;
      this.log.info({ pid: this.pid, timeoutMs: ms }, "process deadline reached; killing it");
      void this.signal("SIGKILL");
    }, ms);
  }

  async signal(signal: "SIGKILL" | "SIGTERM"): Promise<void> {
    if (this.#end) return;
    this.#killed = true;
    await killSession(this.pid, signal);
    if (signal === "SIGKILL") {
      // A member forking while we scanned could have slipped past; look once more.
      setTimeout(() => void killSession(this.pid, "SIGKILL"), 100).unref();
    }
  }

  async writeStdin(data: Uint8Array): Promise<void> {
    if (this.isPty) {
      throw new ProcessInputError(
        "a pty is assigned to this process: send input to the pty, not to stdin",
      );
    }
    await this.#write(data, "stdin not enabled or closed");
  }

  async writePty(data: Uint8Array): Promise<void> {
    if (!this.isPty) {
      throw new ProcessInputError("no pty is assigned to this process: send input to stdin");
    }
    await this.#write(data, "the pty is closed");
  }

  #write(data: Uint8Array, closedMessage: string): Promise<void> {
    const stdin = this.#child.stdin;
    if (!stdin || !this.#stdinOpen || stdin.destroyed || stdin.writableEnded) {
      return Promise.reject(new ProcessInputError(closedMessage));
    }
    return new Promise((resolve, reject) => {
      stdin.write(data, (error) => {
        if (error) reject(new ProcessInputError(`cannot write input: ${error.message}`));
        else resolve();
      });
    });
  }

  closeStdin(): void {
    if (this.isPty) {
      throw new ProcessInputError(
        "cannot close stdin of a pty process: send Ctrl+D (0x04) to the pty instead",
      );
    }
    this.#stdinOpen = false;
    this.#child.stdin?.end();
  }

  resize(cols: number, rows: number): void {
    if (!this.isPty) throw new ProcessInputError("no pty is assigned to this process");
    if (this.#end) return;
    this.#control.write(`${cols} ${rows}\n`);
  }
}
