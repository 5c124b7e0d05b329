import type { ErrorCodeSpec } from "./error-codes.js";

/** What the request met: a sandbox's state, time, and the hosts behind the control plane. */
export const STATE_ERROR_CODES = {
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
  /** The build was stopped before it finished: cancelled by its owner (POST .../cancel). */
  template_build_cancelled: {
    status: 409,
    grpc: "canceled",
    retryable: false,
    message: "the build of template {template} was cancelled",
  },
  /** The build ran past the operator's limit (WRENN_TEMPLATE_BUILD_TIMEOUT_S) and was stopped. */
  template_build_timed_out: {
    status: 408,
    grpc: "deadline_exceeded",
    retryable: false,
    message: "the build of template {template} ran past its time limit",
  },
  /**
   * The control plane that followed the build stopped (crashed or was killed) before the build
   * ended; another control plane found the record left building and closed it.
   */
  template_build_lost: {
    status: 409,
    grpc: "aborted",
    retryable: true,
    message:
      "the build of template {template} was lost when the control plane following it stopped",
  },
  /** Cancel asked of a template with no build running. */
  template_not_building: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "template {template} has no build running",
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
  /** A workspace move names the host it is on already. */
  workspace_on_host: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "workspace {name} is on host {id} already",
  },
  /**
   * The workspace is being moved to another host (by this or another control plane) and the
   * move did not finish within the wait: nothing was done; try again once it is on its new host.
   */
  workspace_moving: {
    status: 409,
    grpc: "unavailable",
    retryable: true,
    message: "workspace {name} is being moved to another host",
  },
  /** A workspace move's target is not online, or drained: nothing moved. */
  host_not_ready: {
    status: 409,
    grpc: "failed_precondition",
    retryable: true,
    message: "host {id} is not ready to take sandboxes",
  },
  /**
   * A workspace move needs an artifact store both hosts share (WRENN_STORE=s3 on each agent):
   * with a host-local one the other host could never read what was hibernated. Nothing moved.
   */
  store_not_configured: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "no artifact store is shared by both hosts",
  },
  /** The owner registered this public key already (keys are unique per owner). */
  ssh_key_taken: {
    status: 409,
    grpc: "already_exists",
    retryable: false,
    message: "this key ({fingerprint}) is registered already",
  },
  /** The owner has a secret of that name already (names are unique per owner, any case). */
  secret_name_taken: {
    status: 409,
    grpc: "already_exists",
    retryable: false,
    message: "you have a secret named {name} already; update it with POST /secrets/{name}",
  },
  /** The workspace's image has no OpenSSH server, so nothing can answer `wrenn ssh`. */
  workspace_no_sshd: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "this workspace's image has no sshd: {detail}",
  },
  /**
   * The sandbox backs a workspace: it ends, and its end time moves, only through the workspace
   * (a delete, kill or timeout change through /v1/sandboxes or the E2B API is refused).
   */
  workspace_sandbox: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message:
      "sandbox {id} is workspace {name}'s; destroy it with `wrenn ws rm {name}` (DELETE /v1/workspaces/{name}, hostd.v1 DestroyWorkspace), or suspend it with `wrenn ws suspend {name}`",
  },
  /** Writing authorized_keys or starting sshd in the workspace failed (its message says how). */
  workspace_sshd_failed: {
    status: 502,
    grpc: "unavailable",
    retryable: true,
    message: "the workspace's sshd could not be started",
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
  /**
   * A read of a failed sandbox's disk is already running for it (one at a time), or its host
   * runs as many as it allows (FILES_RESCUE_LIMITS.concurrentPerHost): try again shortly.
   */
  files_read_busy: {
    status: 409,
    grpc: "aborted",
    retryable: true,
    message: "a read of sandbox {id}'s disk is already running",
  },
  /** A read of a failed sandbox's disk ran past FILES_RESCUE_LIMITS.timeoutSeconds. */
  files_read_timeout: {
    status: 408,
    grpc: "deadline_exceeded",
    retryable: false,
    message: "the read of sandbox {id}'s disk ran past its time limit",
  },
  /** A read of a failed sandbox's disk returned more than FILES_RESCUE_LIMITS.outputBytes. */
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
  /**
   * The artifact store (docs/hosts.md, "Object storage") is down, refusing or too slow: a
   * hibernation left the sandbox paused where it was, a resume left it hibernated.
   */
  store_unavailable: {
    status: 503,
    grpc: "unavailable",
    retryable: true,
    message: "the artifact store did not take or give the sandbox; it is unchanged, try again",
  },
  /** A hibernated sandbox's checkpoint needs CPU features the chosen host lacks. */
  cpu_features_mismatch: {
    status: 409,
    grpc: "failed_precondition",
    retryable: false,
    message: "this host's CPU lacks features the sandbox was checkpointed with",
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
