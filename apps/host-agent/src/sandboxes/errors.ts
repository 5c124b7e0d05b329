import type { ErrorCode } from "@wrenn/contract";

/** Errors the service maps to Connect codes (and the control plane to HTTP statuses). */
export type AgentErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "permission_denied"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    /** The contract's code for a refusal the control plane passes on (template_not_found...). */
    readonly contractCode?: ErrorCode,
  ) {
    super(message);
  }
}
