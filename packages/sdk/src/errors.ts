// Every failure the SDK reports is one of these classes, carrying the server's `code` and
// `message`: Wrenn's /v1 errors ({"error":{"code","message"}}), envd's Connect error codes
// (not_found, invalid_argument, ...) and the SDK's own (stream_lost, unreachable, ...).
// The names E2B's SDK uses (SandboxError, NotFoundError, CommandExitError, ...) exist too, so
// code that catches them keeps working after the move.

import { ERROR_CODES, isErrorCode } from "@wrenn/contract";

export interface WrennErrorOptions {
  /** HTTP status of the answer that carried the error, when there was one. */
  status?: number;
  cause?: unknown;
}

/** The base of every error the SDK throws. `code` is machine-readable and stable. */
export class WrennError extends Error {
  readonly code: string;
  readonly status: number | undefined;

  constructor(code: string, message: string, options: WrennErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status;
  }

  /** Whether the same call may succeed later unchanged (the contract's registry says). */
  get retryable(): boolean {
    if (isErrorCode(this.code)) return ERROR_CODES[this.code].retryable;
    return (this.status ?? 0) >= 500;
  }
}

/** E2B's name for the base class. */
export { WrennError as SandboxError };

/** The API key is missing, wrong or revoked (401), or envd refused its access token. */
export class AuthenticationError extends WrennError {}

/** The key may not do this (403): an admin-only route, or mounts asked for by a user key. */
export class PermissionDeniedError extends WrennError {}

/** The request was malformed or asked for something out of bounds (400). */
export class InvalidArgumentError extends WrennError {}

/** Something does not exist (404). */
export class NotFoundError extends WrennError {}

/** The sandbox does not exist, is another owner's, or was destroyed. */
export class SandboxNotFoundError extends NotFoundError {}

/** No file or directory at that path in the sandbox. */
export class FileNotFoundError extends NotFoundError {}

/** The request conflicts with the current state (409): already exists, busy, wrong state. */
export class ConflictError extends WrennError {}

/** The sandbox exists but is not running (paused, pausing, resuming): resume it first. */
export class SandboxNotRunningError extends ConflictError {}

/** Too many requests, or a pool (vcpus, memory, storage) of the key is used up (429). */
export class RateLimitError extends WrennError {
  /** Seconds after which a retry may succeed (the Retry-After header), when the server said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: string,
    message: string,
    options: WrennErrorOptions & { retryAfterSeconds?: number } = {},
  ) {
    super(code, message, options);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The sandbox's disk is full (507). */
export class NotEnoughSpaceError extends WrennError {}

/** Something took longer than allowed (a request, or a deadline envd enforced). */
export class TimeoutError extends WrennError {}

/** The control plane or a host failed (5xx). Usually worth a retry later. */
export class ServerError extends WrennError {}

/** The control plane could not be reached at all (connection refused, DNS, TLS). */
export class ConnectionError extends WrennError {}

/** The server answered with something the SDK cannot read (a different program on that URL?). */
export class UnexpectedResponseError extends WrennError {}

export interface CommandResult {
  /** The process's exit code; -1 when a signal ended it. */
  exitCode: number;
  /** envd's description when the exit was not clean ("exit status 3", "signal: killed"). */
  error?: string;
  stdout: string;
  stderr: string;
}

/** A command exited with a non-zero code (thrown by `run` and `wait`). */
export class CommandExitError extends WrennError implements CommandResult {
  readonly exitCode: number;
  readonly error: string | undefined;
  readonly stdout: string;
  readonly stderr: string;

  constructor(result: CommandResult) {
    super("command_failed", result.error ?? `exit status ${result.exitCode}`);
    this.exitCode = result.exitCode;
    this.error = result.error;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

/**
 * A command ran past its `timeoutMs`: it was killed (its whole session, children included),
 * and this says so. `stdout` and `stderr` hold what it printed until then.
 */
export class CommandTimeoutError extends TimeoutError {
  readonly timeoutMs: number;
  readonly pid: number;
  /** The command line (or program) that was killed. */
  readonly cmd: string | undefined;
  readonly stdout: string;
  readonly stderr: string;

  constructor(o: { timeoutMs: number; pid: number; cmd?: string; stdout: string; stderr: string }) {
    super(
      "command_timeout",
      `${o.cmd === undefined ? "the command" : `the command ${JSON.stringify(o.cmd)}`} (pid ${o.pid}) ran longer than its timeout of ${o.timeoutMs} ms and was killed`,
    );
    this.timeoutMs = o.timeoutMs;
    this.cmd = o.cmd;
    this.pid = o.pid;
    this.stdout = o.stdout;
    this.stderr = o.stderr;
  }
}

/**
 * The output stream of a process broke and could not be re-established within the reconnect
 * window. The process may still be running: `sandbox.commands.connect(pid)` picks it up again.
 */
export class StreamLostError extends WrennError {
  readonly pid: number;

  constructor(pid: number, waitedMs: number, cause: unknown) {
    super(
      "stream_lost",
      `lost the output stream of process ${pid} and could not reconnect for ${Math.round(waitedMs / 1000)} s (${describeCause(cause)}); it may still be running: commands.connect(${pid}) picks it up`,
      { cause },
    );
    this.pid = pid;
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
    return `${cause.message}${inner}`;
  }
  return String(cause);
}
