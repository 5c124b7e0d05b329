import type { ErrorCodeSpec } from "./error-codes.js";

/** The request's own faults: its shape, its caller, the limits it meets, what it names. */
export const REQUEST_ERROR_CODES = {
  // ---- the request itself
  invalid_request: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "invalid request",
  },
  /** Not an OpenSSH public key line Wrenn accepts (type, size, encoding or length). */
  invalid_ssh_key: {
    status: 400,
    grpc: "invalid_argument",
    retryable: false,
    message: "not an OpenSSH public key Wrenn accepts",
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
  /** The owner has as many SSH tunnels open as one owner may (SSH_LIMITS.tunnelsPerOwner). */
  too_many_ssh_tunnels: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: true,
    message: "you have {max} SSH connections open already; close one first",
  },
  /** The owner runs as many template builds as one owner may (WRENN_TEMPLATE_BUILDS_PER_OWNER). */
  too_many_template_builds: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: true,
    message: "you have {max} template builds running already; wait for one or cancel it",
  },
  /** Every WireGuard UDP port of the workspace's host is taken (WRENN_WG_PORTS). */
  workspace_ports_exhausted: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: false,
    message: "this host has no free WireGuard port; destroy a workspace or widen its port range",
  },
  too_many_ssh_keys: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: false,
    message: "you have {max} SSH keys registered already; remove one first",
  },
  too_many_secrets: {
    status: 429,
    grpc: "resource_exhausted",
    retryable: false,
    message: "you have {max} secrets already; delete one first",
  },
  /** The operator turned secrets off (WRENN_SECRETS=off). */
  secrets_disabled: {
    status: 403,
    grpc: "permission_denied",
    retryable: false,
    message: "secrets are turned off on this server (WRENN_SECRETS=off); ask its operator",
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
  ssh_key_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "ssh key {id} not found",
  },
  /** No secret of the caller's by that id or name (a route, or a `${e2b.secrets.NAME}`). */
  secret_not_found: {
    status: 404,
    grpc: "not_found",
    retryable: false,
    message: "secret {name} not found; create it with `wrenn secret set {name}` or POST /secrets",
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
} as const satisfies Record<string, ErrorCodeSpec>;
