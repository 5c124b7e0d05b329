// What commands and terminals share: envd's process service, its calls and its streams.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { Process, Signal, type StartRequestSchema } from "@wrenn/proto/process";
import type { ConnectionConfig } from "../connection-config.js";
import type { EnvdConnection } from "../envd/envd-connection.js";
import { errorFromEnvd } from "../error-mapping.js";
import { InvalidArgumentError, NotFoundError, UnexpectedResponseError } from "../errors.js";
import { type CommandCallbacks, CommandHandle } from "./command-handle.js";
import { processEvents } from "./process-stream.js";

export interface CommandRequestOpts {
  /** Bound on this call (ms); default the connection's requestTimeoutMs. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

/** What `sandbox.commands` and `sandbox.pty` share: envd's process service. */
export abstract class ProcessClient {
  protected readonly rpc: Client<typeof Process>;

  constructor(
    protected readonly envd: EnvdConnection,
    protected readonly config: ConnectionConfig,
  ) {
    this.rpc = createClient(Process, envd.transport);
  }

  /** Starts (or connects to) a process and returns its handle once the start event arrived. */
  protected async open(
    what: {
      start?: MessageInitShape<typeof StartRequestSchema>;
      pid?: number;
      replayFrom?: number;
      timeoutMs?: number;
      user?: string;
      /** The command line, for error messages. */
      cmd?: string;
    },
    callbacks: CommandCallbacks,
    opts: CommandRequestOpts,
  ): Promise<CommandHandle> {
    const disconnect = new AbortController();
    // The caller's signal stops following, like disconnect().
    opts.signal?.addEventListener("abort", () => disconnect.abort(opts.signal?.reason), {
      once: true,
    });
    const headers = this.envd.rpcHeaders(what.user);
    const events = processEvents({
      rpc: this.rpc,
      start: what.start,
      pid: what.pid,
      replayFrom: what.replayFrom,
      headers,
      timeoutMs: what.timeoutMs ?? 0,
      requestTimeoutMs: opts.requestTimeoutMs ?? this.config.requestTimeoutMs,
      reconnectTimeoutMs: this.config.reconnectTimeoutMs,
      signal: disconnect.signal,
    });
    const first = await events.next().catch((error: unknown) => {
      throw errorFromEnvd(error, "process");
    });
    if (first.done || first.value.type !== "start") {
      throw new UnexpectedResponseError(
        "protocol_error",
        "the process stream ended before the process started",
      );
    }
    const pid = first.value.pid;
    return new CommandHandle(
      pid,
      events,
      {
        kill: () => this.killProcess(pid, {}),
        sendStdin: (data) => this.writeInput(pid, "stdin", data, {}),
        closeStdin: () =>
          this.unary(() =>
            this.rpc.closeStdin({ process: pidSelector(pid) }, this.callOptions({})),
          ).then(() => {}),
        disconnect: () => disconnect.abort(),
      },
      callbacks,
      what.cmd,
    );
  }

  protected callOptions(opts: CommandRequestOpts, user?: string) {
    return {
      headers: this.envd.rpcHeaders(user),
      timeoutMs: opts.requestTimeoutMs ?? this.config.requestTimeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
  }

  protected async unary<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw errorFromEnvd(error, "process");
    }
  }

  protected async writeInput(
    pid: number,
    kind: "stdin" | "pty",
    data: string | Uint8Array,
    opts: CommandRequestOpts,
  ): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await this.unary(() =>
      this.rpc.sendInput(
        { process: pidSelector(pid), input: { input: { case: kind, value: bytes } } },
        this.callOptions(opts),
      ),
    );
  }

  protected async killProcess(pid: number, opts: CommandRequestOpts): Promise<boolean> {
    try {
      await this.unary(() =>
        this.rpc.sendSignal(
          { process: pidSelector(pid), signal: Signal.SIGKILL },
          this.callOptions(opts),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }
}

export function pidSelector(pid: number) {
  checkPid(pid);
  return { selector: { case: "pid" as const, value: pid } };
}

export function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0xffffffff) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `pid must be a positive integer, got ${pid}`,
    );
  }
}
