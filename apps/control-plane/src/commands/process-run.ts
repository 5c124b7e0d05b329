import { Code, ConnectError } from "@connectrpc/connect";
import { Signal, type StartResponse } from "@wrenn/proto/process";
import { fromEnvdError } from "../envd/envd-errors.js";
import type { EnvdSession } from "../envd/envd-session.js";
import { ServiceError } from "../service/errors.js";
import type { CommandSpec } from "./command-spec.js";

export type OutputStream = "stdout" | "stderr" | "pty";

export interface RunOutput {
  stream: OutputStream;
  data: Uint8Array;
}

/** envd's end event: Go's os.ProcessState, as E2B reports it. */
export interface RunEnd {
  exitCode: number;
  exited: boolean;
  /** "exit status N" or "signal: killed". */
  status: string;
  error?: string;
}

export interface RunOutcome {
  end?: RunEnd;
  /** Why the run ended without an end event (stream broken, cancelled). */
  failure?: string;
  bytes: Record<OutputStream | "stdin", number>;
  durationMs: number;
}

export interface StartOptions {
  /** Keep a pipe on stdin (otherwise it is /dev/null). */
  stdin: boolean;
  pty?: { cols: number; rows: number };
  /**
   * Called once when the run is over, however it ended (for the audit trail); `recorded`
   * waits for what it returns.
   */
  onEnded?: (outcome: RunOutcome) => Promise<void> | void;
}

/**
 * One process started by envd's Process.Start, followed through its stream: output, input,
 * signals, pty resizes. Cancelling the stream does not end the process (envd keeps it, as
 * E2B's does); kill() does.
 */
export class ProcessRun {
  end?: RunEnd;
  readonly bytes: Record<OutputStream | "stdin", number> = {
    stdout: 0,
    stderr: 0,
    pty: 0,
    stdin: 0,
  };
  private inputs: Promise<unknown> = Promise.resolve();
  private ended = false;
  /**
   * Settles once onEnded's work is done (the audit event written), so a one-shot exec answers
   * only after its event is readable: a client that lists events next sees it.
   */
  recorded: Promise<void> = Promise.resolve();
  private readonly began = performance.now();

  private constructor(
    private readonly session: EnvdSession,
    private readonly events: AsyncIterator<StartResponse>,
    private readonly abort: AbortController,
    readonly pid: number,
    readonly pty: boolean,
    private readonly onEnded?: (outcome: RunOutcome) => Promise<void> | void,
  ) {}

  /** Resolves once envd reports the process started (its first message). */
  static async start(
    session: EnvdSession,
    spec: CommandSpec,
    options: StartOptions,
  ): Promise<ProcessRun> {
    const abort = new AbortController();
    const stream = session.process.start(
      {
        process: { cmd: spec.cmd, args: spec.args, envs: spec.envs, cwd: spec.cwd },
        stdin: options.stdin,
        pty: options.pty ? { size: { cols: options.pty.cols, rows: options.pty.rows } } : undefined,
      },
      { signal: abort.signal },
    );
    const events = stream[Symbol.asyncIterator]();
    let first: IteratorResult<StartResponse>;
    try {
      first = await events.next();
    } catch (error) {
      abort.abort();
      throw fromEnvdError(error, "start the process");
    }
    const event = first.done ? undefined : first.value.event?.event;
    if (event?.case !== "start") {
      abort.abort();
      throw new ServiceError("envd_error", "envd did not report the start of the process");
    }
    return new ProcessRun(
      session,
      events,
      abort,
      event.value.pid,
      options.pty !== undefined,
      options.onEnded,
    );
  }

  /**
   * Output until the process ends (then `end` is set) or the stream breaks (then this throws).
   * Iterate it once; a consumer that stops early should call cancel() or kill().
   */
  async *output(): AsyncGenerator<RunOutput> {
    let failure: string | undefined;
    try {
      for (;;) {
        let next: IteratorResult<StartResponse>;
        try {
          next = await this.events.next();
        } catch (error) {
          if (this.abort.signal.aborted) {
            failure = "cancelled";
            return;
          }
          const mapped = fromEnvdError(error, "follow the process");
          failure = mapped.message;
          throw mapped;
        }
        if (next.done) break;
        const event = next.value.event?.event;
        if (event?.case === "data") {
          const out = event.value.output;
          if (out.case === undefined) continue;
          this.bytes[out.case] += out.value.byteLength;
          yield { stream: out.case, data: out.value };
        } else if (event?.case === "end") {
          const { exitCode, exited, status, error } = event.value;
          this.end = { exitCode, exited, status, ...(error ? { error } : {}) };
        }
      }
      if (!this.end) failure = "the process stream ended without an exit status";
    } finally {
      this.finish(failure);
    }
    if (!this.end)
      throw new ServiceError("envd_error", "the process stream ended without an exit status");
  }

  get elapsedMs(): number {
    return performance.now() - this.began;
  }

  /** Bytes for the process: stdin, or keystrokes for a pty. Writes keep their order. */
  write(data: Uint8Array): Promise<void> {
    this.bytes.stdin += data.byteLength;
    const input = this.pty
      ? { input: { case: "pty" as const, value: data } }
      : { input: { case: "stdin" as const, value: data } };
    return this.queue(
      () => this.session.process.sendInput({ process: this.selector(), input }),
      "send input",
    );
  }

  /** End of input (after every write queued before it). */
  closeStdin(): Promise<void> {
    return this.queue(
      () => this.session.process.closeStdin({ process: this.selector() }),
      "close stdin",
    );
  }

  /** envd only delivers SIGTERM and SIGKILL. Jumps the input queue. */
  async signal(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    try {
      await this.session.process.sendSignal({
        process: this.selector(),
        signal: signal === "SIGKILL" ? Signal.SIGKILL : Signal.SIGTERM,
      });
    } catch (error) {
      // Already over: nothing left to signal.
      if (ConnectError.from(error).code === Code.NotFound) return;
      throw fromEnvdError(error, `send ${signal}`);
    }
  }

  /** Ends the process; its end event still arrives through output(). */
  async kill(): Promise<void> {
    if (this.end) return;
    await this.signal("SIGKILL").catch(() => {});
  }

  resize(cols: number, rows: number): Promise<void> {
    return this.queue(
      () =>
        this.session.process.update({ process: this.selector(), pty: { size: { cols, rows } } }),
      "resize the terminal",
    );
  }

  /** Stops following the process (it keeps running unless killed first). */
  cancel(): void {
    this.abort.abort();
    this.finish("cancelled");
  }

  private selector() {
    return { selector: { case: "pid" as const, value: this.pid } };
  }

  private queue(call: () => Promise<unknown>, what: string): Promise<void> {
    const next = this.inputs.then(call);
    // A failed write must not block the ones after it; its caller gets the error.
    this.inputs = next.catch(() => {});
    return next.then(
      () => {},
      (error: unknown) => {
        throw fromEnvdError(error, what);
      },
    );
  }

  private finish(failure: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.recorded = Promise.resolve(
      this.onEnded?.({
        end: this.end,
        failure: this.end ? undefined : failure,
        bytes: { ...this.bytes },
        durationMs: performance.now() - this.began,
      }),
    ).catch(() => {});
  }
}
