// Turns what a server said into the SDK's typed errors: Wrenn's /v1 error bodies, E2B-style
// bodies from envd's /files and the proxy ({code:int, message}), and Connect errors of envd.
import { Code, ConnectError } from "@connectrpc/connect";
import { E2B_STATUS_ERROR_CODES, grpcCodeName, httpStatusOf, isErrorCode } from "@wrenn/contract";
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  SandboxNotFoundError,
  SandboxNotRunningError,
  ServerError,
  TimeoutError,
  UnexpectedResponseError,
  WrennError,
} from "./errors.js";

const NOT_RUNNING_CODES = new Set(["sandbox_not_running", "sandbox_paused"]);

/**
 * The typed error for a server code: the contract's registry says what kind of failure the
 * code is; the HTTP status decides only for a code this SDK does not know (a newer server).
 */
export function errorForStatus(
  httpStatus: number,
  code: string,
  message: string,
  retryAfterSeconds?: number,
): WrennError {
  const o = { status: httpStatus };
  const status = isErrorCode(code) ? httpStatusOf(code) : httpStatus;
  if (status === 401) return new AuthenticationError(code, message, o);
  if (status === 403) return new PermissionDeniedError(code, message, o);
  if (status === 404) {
    if (code === "sandbox_not_found") return new SandboxNotFoundError(code, message, o);
    if (code === "file_not_found") return new FileNotFoundError(code, message, o);
    return new NotFoundError(code, message, o);
  }
  if (status === 409) {
    if (NOT_RUNNING_CODES.has(code)) return new SandboxNotRunningError(code, message, o);
    return new ConflictError(code, message, o);
  }
  if (status === 429) return new RateLimitError(code, message, { ...o, retryAfterSeconds });
  if (status === 408 || status === 504) return new TimeoutError(code, message, o);
  if (status === 507) return new NotEnoughSpaceError(code, message, o);
  if (status >= 400 && status < 500) return new InvalidArgumentError(code, message, o);
  return new ServerError(code, message, o);
}

/**
 * The error of a non-2xx HTTP answer, from its body: `{"error":{"code","message"}}` (/v1 and
 * the /v1 proxy prefix), `{"code":<int>,"message"}` (envd's /files, the proxy's 502) or
 * `{"code":"<string>","message"}` (a Connect unary error).
 */
export function errorFromBody(
  status: number,
  text: string,
  retryAfter?: string | null,
): WrennError {
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const retryAfterSeconds =
    retryAfter && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
  if (isRecord(body)) {
    const inner = body.error;
    if (isRecord(inner) && typeof inner.code === "string" && typeof inner.message === "string") {
      return errorForStatus(status, inner.code, inner.message, retryAfterSeconds);
    }
    if (typeof body.message === "string") {
      if (typeof body.code === "string") {
        return errorForStatus(status, body.code, body.message, retryAfterSeconds);
      }
      if (status === 502 && body.message === "The sandbox was not found") {
        return new SandboxNotRunningError("sandbox_not_running", body.message, { status });
      }
      const code = E2B_STATUS_ERROR_CODES[status] ?? `http_${status}`;
      return errorForStatus(status, code, body.message, retryAfterSeconds);
    }
  }
  const snippet = text.trim().slice(0, 200);
  if (status >= 500) {
    return new ServerError(
      `http_${status}`,
      `the server answered ${status}${snippet ? `: ${snippet}` : ""}`,
      { status },
    );
  }
  return new UnexpectedResponseError(
    `http_${status}`,
    `unexpected answer ${status}${snippet ? `: ${snippet}` : ""} (is the URL a Wrenn control plane?)`,
    { status },
  );
}

/**
 * A typed error for anything an envd call threw: our own errors pass through (the fetch
 * wrapper raises them for /v1-style refusals), Connect errors are mapped by code, and network
 * failures become ConnectionError.
 */
export function errorFromEnvd(
  error: unknown,
  what: "file" | "process" | "other" = "other",
): WrennError {
  if (error instanceof WrennError) return error;
  if (error instanceof ConnectError) {
    if (error.cause instanceof WrennError) return error.cause;
    const code = grpcCodeName(error.code);
    const message = error.rawMessage || error.message;
    switch (error.code) {
      case Code.NotFound:
        return what === "file"
          ? new FileNotFoundError(code, message, { cause: error })
          : new NotFoundError(code, message, { cause: error });
      case Code.InvalidArgument:
      case Code.OutOfRange:
        return new InvalidArgumentError(code, message, { cause: error });
      case Code.AlreadyExists:
      case Code.FailedPrecondition:
      case Code.Aborted:
        return new ConflictError(code, message, { cause: error });
      case Code.Unauthenticated:
        return new AuthenticationError(code, message, { cause: error });
      case Code.PermissionDenied:
        return new PermissionDeniedError(code, message, { cause: error });
      case Code.ResourceExhausted:
        return new RateLimitError(code, message, { cause: error });
      case Code.DeadlineExceeded:
        return new TimeoutError(code, message, { cause: error });
      case Code.Unavailable:
      case Code.Canceled:
      case Code.Unknown:
        if (isNetworkFailure(error.cause)) return connectionError(error.cause);
        return new ServerError(code, message, { cause: error });
      default:
        return new ServerError(code, message, { cause: error });
    }
  }
  if (isNetworkFailure(error)) return connectionError(error);
  if (error instanceof Error) return new WrennError("unknown", error.message, { cause: error });
  return new WrennError("unknown", String(error));
}

/** fetch's own failures: nothing came back from the server (refused, reset, DNS, TLS). */
export function isNetworkFailure(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof Error && error.name === "TypeError");
}

export function connectionError(error: unknown, url?: string): ConnectionError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionError(
    "unreachable",
    `cannot reach the Wrenn control plane${url ? ` at ${url}` : ""} (${detail}); is it running (wrenn up / npm start) and is WRENN_API_URL right?`,
    { cause: error },
  );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
