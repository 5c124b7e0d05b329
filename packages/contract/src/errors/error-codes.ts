import { GRPC_CODES, type GrpcCodeName } from "./grpc-codes.js";

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
 * branch on the code (never on the status). Add a code here before raising it anywhere.
 */
export const ERROR_CODES = {
  // ---- the request itself
  invalid_request: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "invalid request",
  },
  invalid_json: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "the body is not valid JSON",
  },
  invalid_message: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "invalid WebSocket message",
  },
  invalid_cursor: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "the cursor is not one this server handed out",
  },
  not_supported: {
    status: 400,
    grpc: "unimplemented",
    retryable: false,
    message: "{feature} is not supported",
  },
  /**
   * A feature of E2B's API this server does not have. 501 rather than 404: E2B's SDK reads a
   * 404 as "sandbox not found", which would send its user looking for the wrong problem.
   */
  /**
   * A host name (`example.com`, `*.example.com`) where only addresses can be enforced: in
   * denyOut (E2B's denyOut takes addresses and CIDRs only; a name there could never be kept
   * closed, since any address can serve it). allowOut takes names.
   */
  egress_domains_unsupported: {
    status: 400,
    grpc: "unimplemented",
    retryable: false,
    message: "domain names are allowed in allowOut only; denyOut takes IPv4 addresses or CIDRs",
  },
  /**
   * An IPv6 egress entry. Sandboxes have no IPv6 at all (the host drops every IPv6 packet from
   * them), so an IPv6 rule could never take effect: refused in one place, for every caller.
   */
  egress_ipv6_unsupported: {
    status: 400,
    grpc: "unimplemented",
    retryable: false,
    message: "IPv6 egress rules are not supported: sandboxes have IPv4 only",
  },
  /** The Linux user a command or file operation names does not exist in the sandbox. */
  unknown_user: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "no such user in the sandbox",
  },
  not_implemented: {
    status: 501,
    grpc: "unimplemented",
    retryable: false,
    message: "{feature} is not implemented by this Wrenn server",
  },
  payload_too_large: {
    status: 413,
    grpc: "resource_exhausted",
    retryable: false,
    message: "the request body is too large",
  },
  unsupported_media_type: {
    status: 415,
    grpc: "invalid_argument",
    retryable: false,
    message: "unsupported content type",
  },
  not_acceptable: {
    status: 406,
    grpc: "invalid_argument",
    retryable: false,
    message: "cannot answer in the accepted format",
  },
  route_not_found: {
    status: 404,
    grpc: "unimplemented",
    retryable: false,
    message: "no route {method} {path}",
  },

  // ---- who is asking
  missing_api_key: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "an API key is required (X-API-Key header)",
  },
  invalid_api_key: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "the API key is not valid",
  },
  no_session: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "sign in first",
  },
  invalid_agent_token: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "missing or wrong agent token",
  },
  /** A host registration token that is unknown, used already, or expired (one use each). */
  invalid_registration_token: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "the registration token is unknown, used or expired",
  },
  /**
   * A host's JWT is missing, wrong or expired, or its host was deleted: the agent refreshes
   * on this code (and registers again only if the refresh is refused too).
   */
  invalid_host_token: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "the host token is missing, wrong or expired",
  },
  /** A refresh token that is unknown, revoked (rotated away) or expired. 401, never 400. */
  invalid_refresh_token: {
    status: 401,
    grpc: "unauthenticated",
    retryable: false,
    message: "the refresh token is unknown, revoked or expired",
  },
  /**
   * The host was deleted (DELETE /v1/hosts/{id}): its JWT and refresh token no longer count.
   * The agent must register again, with a new registration token, after removing its stored
   * registration.
   */
  host_deleted: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message:
      "host {id} was deleted; remove registration.json from the agent's data dir and register it again with a new token",
  },
  forbidden: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "this key may not do that",
  },
  foreign_origin: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "the request came from another origin",
  },
  csrf_token_invalid: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "the form's CSRF token is missing or stale",
  },
  permission_denied: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "permission denied",
  },
  /**
   * This API key may not mount host directories at all (only admin keys may). Distinct from
   * mount_not_allowed so a client can tell "use another way in" (copy the files, as `wrenn run`
   * does) from "this directory is not allowed" (which no key changes).
   */
  mounts_not_allowed: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "only an admin API key may mount host directories",
  },
  /** A host path lies outside the agent's mount roots, or the agent mounts nothing. */
  mount_not_allowed: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "this host directory may not be mounted",
  },
  forbidden_by_host: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "the host agent refused the operation",
  },

  // ---- limits
  rate_limited: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: true,
    message: "too many sandbox creates; retry later",
  },
  pool_exhausted: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: true,
    message: "the key's {pool} pool is used up",
  },
  too_many_messages: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: true,
    message: "too many messages",
  },
  not_enough_space: {
    status: 507,
    grpc: "resource_exhausted",
    retryable: false,
    message: "the sandbox's disk is full",
  },

  // ---- what the request names
  not_found: { status: 404, grpc: "not_found", retryable: false, message: "not found" },
  sandbox_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "sandbox {id} not found",
  },
  workspace_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "workspace {name} not found",
  },
  file_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "no such file or directory",
  },
  host_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "host {id} not found",
  },
  template_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "template {template} is not built on this host",
  },
  /** A create names a runtime driver the host agent does not have (HostStatus.runtimes). */
  runtime_not_available: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "runtime {runtime} is not available on this host",
  },
  /** A snapshot id or name that is unknown, deleted, or another owner's. */
  snapshot_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "snapshot {id} not found",
  },
  /**
   * A snapshot restores only under the runtime build that took it (gVisor checkpoints are not
   * portable between runsc builds): the host refuses, and says which build it has.
   */
  snapshot_incompatible: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "the snapshot cannot be restored on this host",
  },
  /** The OCI image a template build names does not exist in its registry. */
  image_not_found: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "image {image} was not found in its registry",
  },
  /** The registry refused the credentials given for an image (or asked for some). */
  registry_auth_failed: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "the registry refused the credentials for {image}",
  },
  /** The registry of an image could not be reached (no such host, refused, timed out, TLS). */
  registry_unreachable: {
    status: 400,
    grpc: "failed_precondition",
    retryable: true,
    message: "the registry of {image} cannot be reached",
  },
  api_key_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "API key {id} not found",
  },
  owner_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "owner {id} not found",
  },

  // ---- state
  already_exists: {
    status: 409,
    grpc: "already_exists",
    retryable: false,
    message: "it already exists",
  },
  /** A template that sandboxes still use cannot be deleted; the message lists them. */
  template_in_use: {
    status: 409,
    grpc: "failed_precondition",
    retryable: true,
    message: "template {template} is used by sandboxes",
  },
  /** A host that still holds sandboxes cannot be deleted without force; the message lists them. */
  host_in_use: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "host {id} holds sandboxes",
  },
  /** A build of this template is already running. */
  template_building: {
    status: 409,
    grpc: "failed_precondition",
    retryable: true,
    message: "template {template} is being built",
  },
  /** A build step (RUN, COPY...) failed; the message names the step and its exit code. */
  template_step_failed: {
    status: 400,
    grpc: "failed_precondition",
    retryable: false,
    message: "step {step} of the template build failed",
  },
  /** A COPY step names files whose hash was never uploaded (or whose upload was invalid). */
  template_files_missing: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "the files of step {step} were not uploaded",
  },
  /** Another live sandbox of the same owner has this name (names free up when one stops or fails). */
  sandbox_name_taken: {
    status: 409,
    grpc: "already_exists",
    retryable: false,
    message: "you already have a sandbox named {name}",
  },
  /** The owner already has a workspace of this name (names free up when one is destroyed). */
  workspace_name_taken: {
    status: 409,
    grpc: "already_exists",
    retryable: false,
    message: "you already have a workspace named {name}",
  },
  invalid_state: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "the sandbox is not in a state that allows this",
  },
  failed_precondition: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "the operation cannot run now",
  },
  sandbox_not_running: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "sandbox {id} is not running",
  },
  sandbox_paused: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "sandbox {id} is paused",
  },
  /** The sandbox is running, and the operation needs it paused (E2B's deprecated resume). */
  sandbox_running: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "sandbox {id} is already running",
  },
  /** The sandbox is in state error: its processes are gone; only delete (and files) remain. */
  sandbox_failed: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "sandbox {id} failed; delete it to free its resources",
  },
  /**
   * The files of a sandbox that is not running cannot be read: its disk is gone (its host lost
   * it, or the template under it), or it is not in a state whose disk may be read (only a
   * failed sandbox's disk is read in place of envd).
   */
  files_unavailable: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "the files of sandbox {id} cannot be read",
  },
  /** A read of a failed sandbox's disk is already running for it: one at a time. */
  files_read_busy: {
    status: 409,
    grpc: "aborted",
    retryable: true,
    message: "a read of sandbox {id}'s disk is already running",
  },
  /** A read of a failed sandbox's disk went past its bounds (FILES_RESCUE_LIMITS). */
  files_read_too_large: {
    status: 413,
    grpc: "resource_exhausted",
    retryable: false,
    message: "the read of sandbox {id}'s disk went past its limit",
  },
  sandbox_busy: {
    status: 409,
    grpc: "aborted",
    retryable: true,
    message: "another operation on sandbox {id} is in progress",
  },
  stdin_closed: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "stdin is closed",
  },
  last_admin_key: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "the last admin key cannot be revoked",
  },

  // ---- time
  start_timeout: {
    status: 408,
    grpc: "deadline_exceeded",
    retryable: true,
    message: "the command did not start in time",
  },
  timeout: {
    status: 504,
    grpc: "deadline_exceeded",
    retryable: true,
    message: "the operation timed out",
  },
  canceled: { status: 499, grpc: "canceled", retryable: false, message: "canceled" },

  // ---- the hosts and sandboxes behind the control plane
  no_capacity: {
    status: 503,
    grpc: "resource_exhausted",
    retryable: true,
    message: "no host has room for the sandbox",
  },
  /** Several hosts are registered and none that is online can take the sandbox. */
  no_host_available: {
    status: 503,
    grpc: "unavailable",
    retryable: true,
    message: "no ready host can take the sandbox",
  },
  host_unavailable: {
    status: 503,
    grpc: "unavailable",
    retryable: true,
    message: "the host agent did not answer",
  },
  host_error: {
    status: 502,
    grpc: "internal",
    retryable: true,
    message: "the host agent failed",
  },
  envd_error: {
    status: 502,
    grpc: "internal",
    retryable: true,
    message: "envd inside the sandbox failed",
  },
  input_failed: {
    status: 502,
    grpc: "internal",
    retryable: true,
    message: "could not send input to the process",
  },
  sandbox_unreachable: {
    status: 502,
    grpc: "unavailable",
    retryable: true,
    message: "the sandbox did not answer",
  },
  port_unreachable: {
    status: 502,
    grpc: "unavailable",
    retryable: true,
    message: "nothing listens on port {port} in the sandbox",
  },
  http1_only: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "the host agent's forwarder speaks HTTP/1.1",
  },
  invalid_port: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "port must be 1-65535",
  },
  internal_error: {
    status: 500,
    grpc: "internal",
    retryable: false,
    message: "internal error; see the control plane's log",
  },
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
