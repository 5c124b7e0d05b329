import { GRPC_CODES, type GrpcCodeName } from "./grpc-codes.js";
import { REQUEST_ERROR_CODES } from "./request-error-codes.js";
import { STATE_ERROR_CODES } from "./state-error-codes.js";

export interface ErrorCodeSpec {
  /** The HTTP status the control plane answers with. Only the HTTP edge reads it. */
  readonly status: number;
  /** The gRPC/Connect code a Connect service (the host agent) sends it with. */
  readonly grpc: GrpcCodeName;
  /** Whether the same request may succeed later without being changed. */
  readonly retryable: boolean;
  /** The message when the raiser has nothing more specific; `{name}` marks a parameter. */
  readonly message: string;
}

/**
 * Every error code a Wrenn program raises across a boundary. The service layer raises a code;
 * the HTTP edge turns it into a status, the agent into a Connect code, and the SDK and CLI
 * branch on the code (never on the status). Add a code (in request-error-codes.ts or
 * state-error-codes.ts, by what it is about) before raising it anywhere.
 */
export const ERROR_CODES = {
  ...REQUEST_ERROR_CODES,
  ...STATE_ERROR_CODES,
} as const satisfies Record<string, ErrorCodeSpec>;

/**
 * The code a client reports for an error body in E2B's shape (`{"code": <HTTP status>,
 * "message"}`: envd's /files and the proxy's 502), which names no code of its own; a status
 * not listed reads as `http_<status>`. Every SDK maps these bodies with this one table.
 */
export const E2B_STATUS_ERROR_CODES: Readonly<Record<number, string>> = {
  400: "invalid_request",
  401: "unauthenticated",
  404: "file_not_found",
  406: "not_acceptable",
  500: "internal_error",
  502: "sandbox_unreachable",
  507: "not_enough_space",
};

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

export function errorSpec(code: ErrorCode): ErrorCodeSpec {
  return ERROR_CODES[code];
}

/** The HTTP status of a code; for the HTTP edge (and clients reading foreign bodies) only. */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** The numeric gRPC code (equal to @connectrpc/connect's `Code`) a code travels with. */
export function grpcCodeOf(code: ErrorCode): number {
  return GRPC_CODES[ERROR_CODES[code].grpc];
}

/** The code's message template with `{name}` parameters filled in. */
export function errorMessage(code: ErrorCode, params: Record<string, string | number> = {}) {
  return ERROR_CODES[code].message.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/**
 * A broken rule of the contract, raised by the shared validators. Each program turns it into
 * its own error type (ServiceError in the control plane, a Connect error in the agent); the
 * code and message stay as they are.
 */
export class ContractError extends Error {
  override readonly name = "ContractError";

  constructor(
    readonly code: ErrorCode,
    message: string = errorMessage(code),
  ) {
    super(message);
  }
}

/** The request breaks a validation rule (400 invalid_request). */
export const invalidInput = (message: string) => new ContractError("invalid_request", message);
