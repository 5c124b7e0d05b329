/**
 * Every failure the service layer reports. The HTTP layers map `status` and `code` to their own
 * body shapes (Wrenn's {"error":{code,message}} or E2B's {code,message}).
 */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds after which retrying may succeed; sent as Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export const invalidRequest = (message: string) =>
  new ServiceError(400, "invalid_request", message);
export const sandboxNotFound = (id: string) =>
  new ServiceError(404, "sandbox_not_found", `sandbox ${id} not found`);
export const invalidState = (message: string) => new ServiceError(409, "invalid_state", message);
export const hostUnavailable = (message: string) =>
  new ServiceError(503, "host_unavailable", message);
