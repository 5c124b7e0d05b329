// Workspaces (issue 15): named, persistent sandboxes of their owner. The defaults, states, size
// rules and REST shapes are defined here once: hostd.v1.HostService, /v1/workspaces, the SDK
// and the CLI all read them.
import { type Static, Type } from "typebox";
import { LIMITS, SANDBOX_NAME_PATTERN, SNAPSHOT_ID_PATTERN } from "./limits.js";
import type { SandboxState } from "./sandbox-states.js";
import { DateTime } from "./schemas/shared.js";
import { checkIntegerIn, checkSandboxName, checkTemplateName } from "./validators/scalars.js";

/** What an empty field of a create asks for (hostd.v1's CreateWorkspace defaults). */
export const WORKSPACE_DEFAULTS = { vcpus: 2, memoryMb: 2048, diskGb: 10 } as const;

/** Disk sizes in GiB, within what a sandbox may have (LIMITS.diskMb). */
export const WORKSPACE_DISK_GB = {
  min: 1,
  max: Math.floor(LIMITS.diskMb.max / 1024),
} as const;

/**
 * A workspace never ends by a timer: it suspends (its sandbox pauses) after this long without
 * being resumed or created, and a suspended one waits for as long as it takes.
 */
export const WORKSPACE_IDLE_SUSPEND_SECONDS = LIMITS.timeoutSeconds.max;

/**
 * WireGuard addressing of every workspace tunnel (hostd.v1's ClientConfig): the laptop is
 * 10.10.0.1/24, the workspace answers on 10.10.0.2 (any TCP port it listens on).
 */
export const WORKSPACE_TUNNEL = { clientCidr: "10.10.0.1/24", agentIp: "10.10.0.2" } as const;

export const WORKSPACE_STATES = ["created", "running", "stopped", "suspended"] as const;
export type WorkspaceState = (typeof WORKSPACE_STATES)[number];

/** A workspace's state is its sandbox's, in the four words hostd.v1 reports. */
export function workspaceStateOf(sandbox: SandboxState): WorkspaceState {
  switch (sandbox) {
    case "pending":
    case "starting":
      return "created";
    case "running":
    case "resuming":
      return "running";
    case "pausing":
    case "paused":
    case "hibernated":
      return "suspended";
    default:
      return "stopped";
  }
}

export interface WorkspaceSizes {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

/** A workspace's name: the sandbox name rule (a DNS label), so `NAME.wrenn` is a host name. */
export const checkWorkspaceName = (name: unknown): string => checkSandboxName(name);

/** Fills empty (absent or 0, as proto3 sends them) sizes with the defaults, then checks them. */
export function checkWorkspaceCreate(input: {
  name?: unknown;
  image?: unknown;
  vcpus?: unknown;
  memoryMb?: unknown;
  diskGb?: unknown;
}): { name: string; image: string | undefined } & WorkspaceSizes {
  const or = (value: unknown, fallback: number) =>
    value === undefined || value === 0 ? fallback : value;
  return {
    name: checkWorkspaceName(input.name),
    image:
      input.image === undefined || input.image === "" ? undefined : checkTemplateName(input.image),
    vcpus: checkIntegerIn("vcpus", or(input.vcpus, WORKSPACE_DEFAULTS.vcpus), LIMITS.vcpus),
    memoryMb: checkIntegerIn(
      "memory_mb",
      or(input.memoryMb, WORKSPACE_DEFAULTS.memoryMb),
      LIMITS.memoryMb,
    ),
    diskGb: checkIntegerIn(
      "disk_gb",
      or(input.diskGb, WORKSPACE_DEFAULTS.diskGb),
      WORKSPACE_DISK_GB,
    ),
  };
}

/** A workspace name that no rule allows is reported as not found (nobody can have it). */
export function isWorkspaceNameShape(name: unknown): name is string {
  return typeof name === "string" && new RegExp(SANDBOX_NAME_PATTERN).test(name);
}

// ---- REST (/v1/workspaces)

export const WorkspaceName = Type.String({
  pattern: SANDBOX_NAME_PATTERN,
  maxLength: LIMITS.sandboxNameLength,
});

export const CreateWorkspaceBody = Type.Object(
  {
    name: WorkspaceName,
    image: Type.Optional(
      Type.String({ maxLength: LIMITS.templateLength, description: "template (default: base)" }),
    ),
    vcpus: Type.Optional(Type.Integer({ minimum: LIMITS.vcpus.min, maximum: LIMITS.vcpus.max })),
    memoryMb: Type.Optional(
      Type.Integer({ minimum: LIMITS.memoryMb.min, maximum: LIMITS.memoryMb.max }),
    ),
    diskGb: Type.Optional(
      Type.Integer({ minimum: WORKSPACE_DISK_GB.min, maximum: WORKSPACE_DISK_GB.max }),
    ),
  },
  { additionalProperties: false, examples: [{ name: "mybox" }] },
);
export type CreateWorkspaceBody = Static<typeof CreateWorkspaceBody>;

export const Workspace = Type.Object({
  name: Type.String(),
  state: Type.Enum([...WORKSPACE_STATES]),
  image: Type.String(),
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  diskGb: Type.Integer(),
  /** The host's UDP port of its WireGuard endpoint; 0 until it has one. */
  hostPort: Type.Integer(),
  /** Its address on its host ("" while it has none, e.g. suspended). */
  vmIp: Type.String(),
  sandboxId: Type.String(),
  /**
   * Its SSH host public key (SSH_HOST_KEY_PATTERN), learnt from the workspace's own disk at
   * create: `wrenn ssh` and `wrenn code` pin it. "" while unknown (an image without OpenSSH).
   */
  sshHostKey: Type.String(),
  createdAt: DateTime,
});
export type Workspace = Static<typeof Workspace>;

export const WorkspaceList = Type.Object({ workspaces: Type.Array(Workspace) });
export type WorkspaceList = Static<typeof WorkspaceList>;

/**
 * What a laptop needs to reach the workspace over WireGuard (hostd.v1's ClientConfig): the
 * private key is in a create's or a rotate's answer only, never stored by Wrenn.
 */
export const WorkspaceClientConfig = Type.Object({
  name: Type.String(),
  /** host:port of the workspace's WireGuard endpoint. */
  endpoint: Type.String(),
  privateKey: Type.String(),
  peerPublicKey: Type.String(),
  /** The laptop's tunnel address, e.g. 10.10.0.1/24. */
  tunnelIp: Type.String(),
  /** The workspace's tunnel address, e.g. 10.10.0.2. */
  agentIp: Type.String(),
});
export type WorkspaceClientConfig = Static<typeof WorkspaceClientConfig>;

/**
 * The file name of a workspace's wg-quick config. wg-quick names the interface after the file,
 * within Linux's 15 characters: `wr-` and the workspace name's first 12 (two workspaces
 * sharing those share a file: a rough edge).
 */
export const wgQuickFileName = (workspace: string) => `wr-${workspace.slice(0, 12)}.conf`;

/**
 * The client config as a wg-quick file (what `wrenn workspace up` saves and the admin UI
 * shows after a create): only the workspace's tunnel address goes through the tunnel.
 */
export function wgQuickConfig(c: WorkspaceClientConfig): string {
  return [
    `# wrenn workspace ${c.name}`,
    "[Interface]",
    `PrivateKey = ${c.privateKey}`,
    `Address = ${c.tunnelIp}`,
    "",
    "[Peer]",
    `PublicKey = ${c.peerPublicKey}`,
    `Endpoint = ${c.endpoint}`,
    `AllowedIPs = ${c.agentIp}/32`,
    // A laptop behind NAT keeps its mapping open.
    "PersistentKeepalive = 25",
    "",
  ].join("\n");
}

/** POST /v1/workspaces's answer: the workspace and, once, its client config. */
export const CreatedWorkspace = Type.Object({
  ...Workspace.properties,
  clientConfig: WorkspaceClientConfig,
});
export type CreatedWorkspace = Static<typeof CreatedWorkspace>;

/**
 * POST /v1/workspaces/{name}/restore: the workspace runs a new sandbox made from one of your
 * snapshots (its disk, memory and processes); the one it ran is destroyed.
 */
export const RestoreWorkspaceBody = Type.Object(
  { snapshotId: Type.String({ pattern: SNAPSHOT_ID_PATTERN }) },
  { additionalProperties: false, examples: [{ snapshotId: "snap-1a2b3c4d" }] },
);
export type RestoreWorkspaceBody = Static<typeof RestoreWorkspaceBody>;

/**
 * POST /v1/workspaces/{name}/move: the workspace pauses, hibernates to the shared artifact store
 * and resumes on this host (its disk, memory and processes kept); its WireGuard port and keys
 * are the new host's, so the answer holds the new client config and the old one stops working.
 */
export const MoveWorkspaceBody = Type.Object(
  { hostId: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false, examples: [{ hostId: "host-1a2b3c4d" }] },
);
export type MoveWorkspaceBody = Static<typeof MoveWorkspaceBody>;
