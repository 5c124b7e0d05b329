import { ContractError, type ErrorCode, errorMessage } from "@wrenn/contract";
import type { Sandbox } from "./sandbox-types.js";

/**
 * Every failure the service layer reports: a code of the contract's error registry and a
 * message. The service never picks an HTTP status; the HTTP edges (error-handler.ts, the proxy,
 * WebSocket sessions) look the code up, and map it to their own body shapes (Wrenn's
 * {"error":{code,message}} or E2B's {code,message}).
 */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = errorMessage(code),
    /** Seconds after which retrying may succeed; sent as Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ServiceError";
  }

  /** A broken contract rule (from a shared validator) as the service reports it. */
  static from(error: ContractError): ServiceError {
    return new ServiceError(error.code, error.message);
  }
}

/** Runs a shared validator; its ContractError becomes a ServiceError with the same code. */
export function validated<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ContractError) throw ServiceError.from(error);
    throw error;
  }
}

export const invalidRequest = (message: string) => new ServiceError("invalid_request", message);
export const sandboxNotFound = (id: string) =>
  new ServiceError("sandbox_not_found", errorMessage("sandbox_not_found", { id }));
export const invalidState = (message: string) => new ServiceError("invalid_state", message);
export const hostUnavailable = (message: string) => new ServiceError("host_unavailable", message);

/**
 * An ended sandbox asked to do something only a live one can: still sandbox_not_found (E2B's
 * clients and ours read that code as "gone"), but saying when and how it ended.
 */
export function sandboxEnded(
  row: Pick<Sandbox, "id" | "stopReason" | "endAt" | "stoppedAt">,
): ServiceError {
  const at = (row.stopReason === "expired" ? row.endAt : row.stoppedAt)?.toISOString();
  const how =
    row.stopReason === "expired"
      ? `expired at ${at} (its timeout ran out)`
      : row.stopReason === "destroyed"
        ? `was destroyed${at ? ` at ${at}` : ""}`
        : `stopped${at ? ` at ${at}` : ""}`;
  return new ServiceError("sandbox_not_found", `sandbox ${row.id} ${how}; it no longer runs`);
}
