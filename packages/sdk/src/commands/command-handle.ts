// A running command (or terminal): its output as it arrives, and its result once it ends.
import { errorFromEnvd } from "../error-mapping.js";
import {
  CommandExitError,
  type CommandResult,
  CommandTimeoutError,
  ServerError,
  WrennError,
} from "../errors.js";
import type { OutputStream, ProcessStreamEvent } from "./process-stream.js";

export interface CommandCallbacks {
  /**
   * Stdout as text, decoded as UTF-8 across chunk boundaries (a character split between two
   * chunks arrives whole); bytes that are not UTF-8 become U+FFFD. Awaited if it returns a
   * promise.
   */
  onStdout?: (data: string) => unknown;
  /** Stderr as text, decoded like `onStdout`. */
  onStderr?: (data: string) => unknown;
  /**
   * Stdout as raw bytes: each chunk exactly as envd sent it, undecoded (for binary output).
   * Called before `onStdout` for the same chunk. Awaited if it returns a promise, so a slow
   * consumer slows the stream down instead of buffering it here.
   */
  onStdoutBytes?: (chunk: Uint8Array) => unknown;
  /** Stderr as raw bytes, like `onStdoutBytes`. */
  onStderrBytes?: (chunk: Uint8Array) => unknown;
  /** Raw terminal output (pty commands). */
  onPty?: (data: Uint8Array) => unknown;
  /** The output stream broke and was re-established; `lostBytes` > 0 if output was lost. */
  onReconnect?: (info: { attempt: number; lostBytes: number }) => void;
}

export interface CommandControls {
  kill(): Promise<boolean>;
  sendStdin(data: string | Uint8Array): Promise<void>;
  closeStdin(): Promise<void>;
  /** Stops following the output; the process keeps running. */
  disconnect(): void;
}

/**
 * A started command or terminal (from `commands.run({ background: true })`, `commands.start`,
 * `commands.connect` or `pty.create`). Its output is collected as it arrives.
 */
export class CommandHandle implements Omit<CommandResult, "exitCode" | "error"> {
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private out = "";
  private err = "";
  private result: CommandResult | undefined;
  private readonly done: Promise<CommandResult>;
  private ended = false;
  /** Times the stream broke and came back. */
  reconnects = 0;
  /** Output bytes lost across reconnects (0 unless a gap outgrew envd's 4 MiB ring). */
  lostBytes = 0;

  constructor(
    /** The process id inside the sandbox. */
    readonly pid: number,
    events: AsyncGenerator<ProcessStreamEvent>,
    private readonly controls: CommandControls,
    private readonly callbacks: CommandCallbacks,
    /** The command line, for error messages. */
    readonly cmd?: string,
  ) {
    this.done = this.consume(events);
    // A background command nobody waits for must not become an unhandled rejection.
    this.done.catch(() => {});
  }

  /** Everything the command printed on stdout so far. */
  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** The exit code once it ended, else undefined. */
  get exitCode(): number | undefined {
    return this.result?.exitCode;
  }

  get error(): string | undefined {
    return this.result?.error;
  }

  /**
   * Waits for the end. Resolves with the result on exit code 0; rejects with CommandExitError
   * (non-zero), CommandTimeoutError (its timeoutMs passed: it was killed), StreamLostError, or
   * the error that ended the stream.
   */
  async wait(): Promise<CommandResult> {
    const result = await this.done;
    if (result.exitCode !== 0) throw new CommandExitError(result);
    return result;
  }

  /** SIGKILL to the command and its whole session. False if it had already ended. */
  kill(): Promise<boolean> {
    return this.controls.kill();
  }

  sendStdin(data: string | Uint8Array): Promise<void> {
    return this.controls.sendStdin(data);
  }

  closeStdin(): Promise<void> {
    return this.controls.closeStdin();
  }

  /** Stops receiving output; the command keeps running (commands.connect(pid) resumes). */
  async disconnect(): Promise<void> {
    this.controls.disconnect();
  }

  private async consume(events: AsyncGenerator<ProcessStreamEvent>): Promise<CommandResult> {
    try {
      for await (const event of events) {
        if (event.type === "data") await this.onData(event.stream, event.data);
        else if (event.type === "reconnected") {
          this.reconnects++;
          this.lostBytes += event.lostBytes;
          this.callbacks.onReconnect?.({ attempt: event.attempt, lostBytes: event.lostBytes });
        } else if (event.type === "timeout") {
          await this.flush();
          throw new CommandTimeoutError({
            timeoutMs: event.timeoutMs,
            pid: this.pid,
            ...(this.cmd === undefined ? {} : { cmd: this.cmd }),
            stdout: this.out,
            stderr: this.err,
          });
        } else if (event.type === "end") {
          await this.flush();
          this.result = {
            exitCode: event.exitCode,
            ...(event.error ? { error: event.error } : {}),
            stdout: this.out,
            stderr: this.err,
          };
          return this.result;
        }
      }
      throw new ServerError(
        "disconnected",
        `stopped following process ${this.pid} before it ended (disconnect())`,
      );
    } catch (error) {
      throw error instanceof WrennError ? error : errorFromEnvd(error, "process");
    } finally {
      this.ended = true;
    }
  }

  private async onData(stream: OutputStream, data: Uint8Array): Promise<void> {
    if (stream === "pty") {
      await this.callbacks.onPty?.(data);
      return;
    }
    if (stream === "stdout") await this.callbacks.onStdoutBytes?.(data);
    else await this.callbacks.onStderrBytes?.(data);
    // stream: true keeps an incomplete UTF-8 sequence for the next chunk.
    await this.onText(stream, this.decoders[stream].decode(data, { stream: true }));
  }

  private async onText(stream: "stdout" | "stderr", text: string): Promise<void> {
    if (!text) return;
    if (stream === "stdout") {
      this.out += text;
      await this.callbacks.onStdout?.(text);
    } else {
      this.err += text;
      await this.callbacks.onStderr?.(text);
    }
  }

  /** The end: a sequence left incomplete by the last chunk becomes U+FFFD, for the callbacks too. */
  private async flush(): Promise<void> {
    if (this.ended) return;
    await this.onText("stdout", this.decoders.stdout.decode());
    await this.onText("stderr", this.decoders.stderr.decode());
  }
}
