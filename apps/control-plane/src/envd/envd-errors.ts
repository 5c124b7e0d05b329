import type { IncomingHttpHeaders } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { ENVD_ERROR_HEADER, ENVD_UNKNOWN_USER } from "@wrenn/contract";
import { ServiceError } from "../service/errors.js";

/** envd has no such Linux user: the caller named it (E2B's envd says Unauthenticated / 401). */
const unknownUser = (message: string) => new ServiceError("unknown_user", message);

/**
 * How a failed call to envd (through the host agent's forwarder) reads to an API client. The
 * forwarder's own refusals are not Connect errors, so they arrive as bare HTTP statuses that
 * Connect maps to codes: 404 (sandbox unknown to the agent) → unimplemented, 409 (not running)
 * → unknown with HTTP 409 in the message, 502 (port unreachable) → unavailable.
 */
export function fromEnvdError(error: unknown, operation: string): ServiceError {
  if (error instanceof ServiceError) return error;
  const e = ConnectError.from(error);
  const message = `${operation}: ${e.rawMessage}`;
  switch (e.code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return new ServiceError("invalid_request", message);
    case Code.NotFound:
      return new ServiceError("not_found", message);
    case Code.AlreadyExists:
      return new ServiceError("already_exists", message);
    case Code.PermissionDenied:
      return new ServiceError("permission_denied", message);
    case Code.FailedPrecondition:
      return new ServiceError("failed_precondition", message);
    case Code.ResourceExhausted:
      return new ServiceError("not_enough_space", message);
    case Code.Unimplemented:
      return new ServiceError(
        "sandbox_not_running",
        `${operation}: the sandbox is not running on its host`,
      );
    case Code.DeadlineExceeded:
      return new ServiceError("timeout", message);
    case Code.Canceled:
      return new ServiceError("canceled", message);
    case Code.Unauthenticated:
      if (e.metadata.get(ENVD_ERROR_HEADER) === ENVD_UNKNOWN_USER) return unknownUser(message);
      // Our own credentials (the agent token or envd's token) were refused.
      return new ServiceError("host_error", message);
    default:
      if (/\bHTTP 409\b/.test(e.rawMessage))
        return new ServiceError("sandbox_not_running", `${operation}: the sandbox is not running`);
      return new ServiceError("sandbox_unreachable", message);
  }
}

/** An error status and body from envd's /files (or from the forwarder) as a ServiceError. */
export function fromFilesStatus(
  status: number,
  body: string,
  operation: string,
  headers: IncomingHttpHeaders = {},
): ServiceError {
  let message = body.slice(0, 500);
  let forwarderCode: string | undefined;
  try {
    const parsed = JSON.parse(body) as {
      message?: unknown;
      error?: { code?: unknown; message?: unknown };
    };
    if (typeof parsed.message === "string") message = parsed.message;
    if (parsed.error && typeof parsed.error.message === "string") {
      message = parsed.error.message;
      forwarderCode = typeof parsed.error.code === "string" ? parsed.error.code : undefined;
    }
  } catch {
    // Not JSON: keep the text.
  }
  const text = `${operation}: ${message}`;
  if (forwarderCode === "sandbox_not_found" || forwarderCode === "sandbox_not_running")
    return new ServiceError("sandbox_not_running", `${operation}: the sandbox is not running`);
  if (forwarderCode === "port_unreachable") return new ServiceError("sandbox_unreachable", text);
  switch (status) {
    case 400:
      return new ServiceError("invalid_request", text);
    case 401:
      if (headers[ENVD_ERROR_HEADER] === ENVD_UNKNOWN_USER) return unknownUser(text);
      // envd refused the token we hold for it.
      return new ServiceError("host_error", text);
    case 403:
      return new ServiceError("permission_denied", text);
    case 404:
      return new ServiceError("file_not_found", text);
    case 406:
      return new ServiceError("not_acceptable", text);
    case 507:
      return new ServiceError("not_enough_space", text);
    default:
      return new ServiceError("sandbox_unreachable", text);
  }
}
