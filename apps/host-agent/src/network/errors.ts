/**
 * Codes a caller can branch on; the API layer maps them to HTTP statuses
 * (invalid_argument → 400, pool_exhausted → 503, not_allocated → 404, command_failed → 500).
 */
export type NetworkErrorCode =
  | "invalid_argument"
  | "pool_exhausted"
  | "not_allocated"
  | "command_failed";

export class NetworkError extends Error {
  override readonly name = "NetworkError";

  constructor(
    readonly code: NetworkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalidArgument(message: string): NetworkError {
  return new NetworkError("invalid_argument", message);
}
