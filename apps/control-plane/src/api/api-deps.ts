import type { ExecService } from "../commands/exec-service.js";
import type { FileService } from "../files/file-service.js";
import type { HostEnrollment } from "../hosts/host-enrollment.js";
import type { PreviewDomain } from "../proxy/preview-domain.js";
import type { SecretService } from "../secrets/secret-service.js";
import type { ApiKeyService } from "../service/api-key-service.js";
import type { HostService } from "../service/host-service.js";
import type { SandboxService } from "../service/sandbox-service.js";
import type { SnapshotService } from "../service/snapshot-service.js";
import type { TemplateService } from "../service/template-service.js";
import type { SshKeyService } from "../workspaces/ssh-key-service.js";
import type { SshTunnels } from "../workspaces/ssh-tunnels.js";
import type { WorkspaceService } from "../workspaces/workspace-service.js";

export interface ApiDeps {
  sandboxes: SandboxService;
  snapshots: SnapshotService;
  keys: ApiKeyService;
  hosts: HostService;
  /** Registration tokens, registration, refresh and heartbeats of hosts. */
  enrollment: HostEnrollment;
  exec: ExecService;
  files: FileService;
  templates: TemplateService;
  workspaces: WorkspaceService;
  sshKeys: SshKeyService;
  sshTunnels: SshTunnels;
  secrets: SecretService;
  /**
   * The domain sandbox ports are reached under (`<port>-<id>.<domain>`): E2B responses name it
   * so the SDK builds sandbox URLs for this server, not E2B's cloud.
   */
  domain?: PreviewDomain;
}
