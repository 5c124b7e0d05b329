import { type ErrorCode, httpStatusOf } from "@wrenn/contract";
import type { HostError } from "../hosts/host-client.js";
import { hostUnavailable, invalidRequest, invalidState, ServiceError } from "./errors.js";

// How a host agent's failure reads to an API client, used by every operation that calls a host.

/**
 * The contract code of a host agent's refusal: the agent named a code whose meaning is "your
 * request was wrong" (4xx), so the caller gets that code, not a host failure.
 */
export function refusalCode(error: HostError): ErrorCode | undefined {
  const status = error.code === undefined ? 0 : httpStatusOf(error.code);
  return status >= 400 && status < 500 ? error.code : undefined;
}

/** How a failure of the host agent reads to an API client. */
export function fromHostError(error: HostError, operation: string): ServiceError {
  const refused = refusalCode(error);
  if (refused)
    return new ServiceError(refused, `the host refused to ${operation}: ${error.message}`);
  // The host answered; the artifact store behind it did not: say which, so nobody restarts
  // the agent for the store's fault.
  if (error.code === "store_unavailable") {
    return new ServiceError("store_unavailable", `could not ${operation}: ${error.message}`);
  }
  switch (error.kind) {
    case "unavailable":
      return hostUnavailable(`the host agent did not answer (${operation}): ${error.message}`);
    case "invalid_argument":
      return invalidRequest(`the host agent refused the ${operation}: ${error.message}`);
    case "resource_exhausted":
      return new ServiceError(
        "no_capacity",
        `the host has no room to ${operation}: ${error.message}`,
      );
    case "failed_precondition":
      return invalidState(`the host agent cannot ${operation} now: ${error.message}`);
    case "permission_denied":
      return new ServiceError(
        "forbidden_by_host",
        `the host agent refused to ${operation}: ${error.message}`,
      );
    case "unauthenticated":
      return new ServiceError(
        "host_error",
        `the host agent rejected the control plane's credentials (check WRENN_AGENT_TOKEN): ${error.message}`,
      );
    default:
      return new ServiceError(
        "host_error",
        `the host agent failed to ${operation}: ${error.message}`,
      );
  }
}
