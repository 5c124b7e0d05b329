/**
 * Bounds on what one request may ask for. The REST schemas, the OpenAPI document, the shared
 * validators (control plane, host agent, fake agent) and the SDK read these numbers.
 */
export const LIMITS = {
  /** Host directories bound into one sandbox. */
  mounts: 16,
  mountHostPathLength: 4096,
  mountPathLength: 256,
  vcpus: { min: 1, max: 64 },
  memoryMb: { min: 128, max: 262_144 },
  diskMb: { min: 256, max: 1_048_576 },
  timeoutSeconds: { min: 0, max: 86_400 },
  metadataEntries: 64,
  metadataKeyLength: 128,
  metadataValueLength: 1024,
  envVarEntries: 256,
  envVarNameLength: 256,
  envVarValueLength: 32_768,
  /** Entries in each of allowOut and denyOut: enough for any sane policy, cheap to load. */
  egressEntries: 256,
  /** A host name (253 characters) or `*.` and one. */
  egressEntryLength: 255,
  /** egressProxy.address: a host name (253) or IPv4 address, ":" and a port. */
  egressProxyAddressLength: 259,
  /** egressProxy.username and .password, in UTF-8 bytes: RFC 1929's one-byte lengths. */
  egressProxyCredentialBytes: 255,
  /** Domains with header rules (network.rules): each costs the agent a cached leaf cert. */
  egressRuleDomains: 32,
  /** Transforms listed under one domain of network.rules. */
  egressRulesPerDomain: 8,
  /** Headers one domain's rules set, all transforms together. */
  egressRuleHeaders: 16,
  /** An HTTP header name set by a rule. */
  egressRuleHeaderNameLength: 128,
  /** A header value as written (placeholders included) and once they are filled in. */
  egressRuleHeaderValueLength: 8192,
  templateLength: 128,
  /** An OCI image reference (registry/repository:tag or @digest). */
  imageRefLength: 512,
  /** Log lines a template build keeps (the oldest go first). */
  templateBuildLogLines: 5000,
  /** A sandbox's name (see SANDBOX_NAME_PATTERN). */
  sandboxNameLength: 63,
  /** A free-text sandbox search (id, template, metadata). */
  searchLength: 256,
  listLimit: { min: 1, max: 1000, default: 100 },
  cursorLength: 512,
  keyNameLength: 128,
  pool: { max: 1_000_000_000 },
  createRatePerMinute: { max: 100_000 },
  /** Sandboxes one fork request creates (E2B's bound): all restore the same snapshot. */
  forkCount: { min: 1, max: 100, default: 1 },
  /** A snapshot's optional name (E2B's template name length). */
  snapshotNameLength: 128,
} as const;

/** A runtime driver's name ("gvisor"), as HostStatus reports and a create may ask for. */
export const RUNTIME_PATTERN = "^[a-z][a-z0-9-]{0,31}$";
export const TEMPLATE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:/-]*$";
/** A template an owner builds: `name` or `name:tag` (lower-case name, as E2B's aliases). */
export const TEMPLATE_BUILD_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}(:[A-Za-z0-9_.-]{1,64})?$";
/** An OCI image reference as skopeo's docker transport takes it (no scheme, no options). */
export const IMAGE_REF_PATTERN = "^[a-z0-9][A-Za-z0-9._/:@+-]*$";
export const ENV_VAR_NAME_PATTERN = "^[^=\\u0000]+$";
/** Sandbox ids: `sb-` and 8 hex digits. */
export const SANDBOX_ID_PATTERN = "^sb-[0-9a-f]{8}$";
/** Snapshot ids: `snap-` and 8 hex digits; also what `Sandbox.create(snapshotId)` sends. */
export const SNAPSHOT_ID_PATTERN = "^snap-[0-9a-f]{8}$";
/** A snapshot's name: E2B's template-name shape (lower case, digits, `_` and `-`). */
export const SNAPSHOT_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,127}$";
/**
 * Sandbox names: lowercase letters, digits and hyphens, starting and ending with a letter or
 * digit (a DNS label, so a name can one day be a host name). A name that looks like a sandbox
 * id is refused by checkSandboxName: a reference to a sandbox is read as an id first.
 */
export const SANDBOX_NAME_PATTERN = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";

/** Bounds on commands, files and WebSocket messages (exec, files, terminal). */
export const IO_LIMITS = {
  pathLength: 4096,
  /** A shell command line (bash -c). */
  commandLength: 131_072,
  args: 1024,
  argLength: 131_072,
  /** POSIX login names as useradd accepts them. */
  userPattern: "^[a-z_][a-z0-9_-]{0,31}$",
  execTimeoutSeconds: { default: 60, max: 86_400 },
  /** One-shot exec keeps at most this much of each of stdout and stderr; the rest is counted. */
  execOutputBytes: 16 * 1024 * 1024,
  /** One-shot exec stdin (decoded). */
  execStdinBytes: 8 * 1024 * 1024,
  /** Request body of a one-shot exec (stdin may come base64-encoded). */
  execBodyBytes: 12 * 1024 * 1024,
  /** Largest WebSocket message a client may send (stdin or keystrokes in one frame). */
  wsMessageBytes: 1024 * 1024,
  /**
   * One directory listing (envd's ListDir, so also /v1 files/list and the SDKs) goes at most
   * this deep: every level holds an open directory while the levels below it are read.
   */
  listDepth: { default: 1, max: 16 },
  /**
   * A listing with more entries than this is refused as a whole (never cut short: E2B's
   * ListDir has no way to say "truncated"), before envd reads past the cap. The caller lists a
   * subdirectory or a smaller depth instead.
   */
  listEntries: 50_000,
  /** Bytes of entry paths and symlink targets in one listing, refused past it the same way. */
  listNameBytes: 8 * 1024 * 1024,
  terminalSize: { min: 1, max: 1000 },
} as const;

/**
 * Reading a failed sandbox's disk (GET /v1/sandboxes/{id}/files and /archive on a sandbox in
 * state error): the agent runs a short-lived read-only gVisor container over the disk, one
 * at a time per sandbox, stopped past these bounds (the answer is then cut and the transfer
 * fails: a partial file is never passed off as whole).
 */
export const FILES_RESCUE_LIMITS = {
  /** Bytes one read streams back (a file, or a directory's tar). */
  outputBytes: 4 * 1024 * 1024 * 1024,
  /** How long one read may run. */
  timeoutSeconds: 600,
  /** Memory of the read's container (its sentry's overhead is added on top, as for sandboxes). */
  memoryMb: 256,
  /**
   * Reads one host runs at once, all sandboxes together (each is a container with 1 vCPU and
   * memoryMb for up to timeoutSeconds); past it a read is refused with files_read_busy.
   */
  concurrentPerHost: 2,
} as const;
