// @wrenn/sdk: the public surface. Shaped like E2B's `e2b` package, so moving over is a rename.
// The contract's shapes the client's calls take and return, under their contract names.
export type {
  ApiKey,
  CreateApiKeyBody,
  CreatedApiKey,
  CreateTemplateBody,
  CurrentApiKey,
  DeletedHost,
  ForkResponse,
  ForkResult,
  Health,
  Host,
  HostDrain,
  SandboxEvent,
  SandboxEventPage,
  SandboxEventsQuery,
  Snapshot,
  SnapshotPage,
  Template,
  TemplateBuild,
  TemplateLogEntry,
} from "@wrenn/contract";
export { ApiClient, type ApiRequest, type QueryValue, SDK_VERSION } from "./api-client.js";
export { ApiKeysClient } from "./client/api-keys-client.js";
export { HostsClient } from "./client/hosts-client.js";
export { SandboxRecordsClient } from "./client/sandbox-records-client.js";
export { SnapshotsClient } from "./client/snapshots-client.js";
export { TemplatesClient } from "./client/templates-client.js";
export { WrennClient } from "./client/wrenn-client.js";
export {
  type CommandCallbacks,
  CommandHandle,
} from "./commands/command-handle.js";
export {
  type CommandConnectOpts,
  type CommandRequestOpts,
  type CommandStartOpts,
  Commands,
  type ProcessInfo,
} from "./commands/commands.js";
export type { OutputStream } from "./commands/process-stream.js";
export { Pty, type PtyConnectOpts, type PtyCreateOpts, type PtySize } from "./commands/pty.js";
export {
  ConnectionConfig,
  type ConnectionOpts,
  DEFAULT_API_URL,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from "./connection-config.js";
export { errorFromBody } from "./error-mapping.js";
export {
  AuthenticationError,
  CommandExitError,
  type CommandResult,
  CommandTimeoutError,
  ConflictError,
  ConnectionError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  SandboxError,
  SandboxNotFoundError,
  SandboxNotRunningError,
  ServerError,
  StreamLostError,
  TimeoutError,
  UnexpectedResponseError,
  WrennError,
  type WrennErrorOptions,
} from "./errors.js";
export {
  type EntryInfo,
  type FilesystemEvent,
  FilesystemEventType,
  FileType,
  type WriteInfo,
} from "./files/entry-info.js";
export {
  Filesystem,
  type FilesystemListOpts,
  type FilesystemReadOpts,
  type FilesystemRequestOpts,
  type ReadFormat,
  type WatchOpts,
  type WriteData,
  type WriteEntry,
} from "./files/filesystem.js";
export { WatchHandle } from "./files/watch-handle.js";
export {
  Sandbox,
  type SandboxApiOpts,
  type SandboxConnectOpts,
  type SandboxCreateNetworkOpts,
  type SandboxMountOpts,
  type SandboxNetworkOpts,
  type SandboxNetworkUpdate,
  type SandboxOpts,
} from "./sandbox.js";
export {
  type OwnedSandboxInfo,
  parseSandbox,
  SANDBOX_STATES,
  type SandboxInfo,
  type SandboxMetrics,
  type SandboxState,
} from "./sandbox-info.js";
export { type SandboxListOpts, SandboxPaginator, type SandboxQuery } from "./sandbox-paginator.js";
export { type SecretInfo, Secrets } from "./secrets.js";
export { type SshKeyInfo, SshKeys, workspaceSshEndpoint } from "./ssh-keys.js";
export {
  type CreatedWorkspaceInfo,
  type WorkspaceClientConfig,
  type WorkspaceCreateOpts,
  type WorkspaceInfo,
  type WorkspaceState,
  Workspaces,
} from "./workspaces.js";
