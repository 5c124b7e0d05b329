import type { Agent as HttpsAgent } from "node:https";
import type { Readable } from "node:stream";
import type {
  EgressPolicy,
  EgressProxyConfig,
  ErrorCode,
  SandboxErrorReason,
} from "@wrenn/contract";
import type { HostCapacity, HostTemplate } from "../store/host-store.js";

export type AgentSandboxState = "starting" | "running" | "paused" | "stopped" | "error" | "unknown";

export interface AgentSandbox {
  id: string;
  template: string;
  state: AgentSandboxState;
  envdVersion: string;
  error: string;
  /** Its private IPv4 on the host ("" when it has none, e.g. paused by checkpoint). */
  address?: string;
  /** Why it is in error (state "error" only). */
  errorReason?: SandboxErrorReason;
  /**
   * How a paused sandbox is held: "checkpoint" (memory saved to disk, no process left) or
   * "freeze" (processes stopped in memory; the agent falls back to this when the sandbox holds
   * open TCP sockets, which a checkpoint cannot save).
   */
  pauseMode?: "checkpoint" | "freeze";
  /** Where host directories are mounted inside it (absent: none). */
  mounts?: string[];
  /** The UDP port of its workspace WireGuard endpoint on the host (absent: none). */
  tunnelPort?: number;
  /**
   * The agent lost the secret parts of its egress policy (header rules' values, the proxy's
   * credentials: memory only there) with a restart: the reconciler sends the policy again.
   */
  networkIncomplete?: boolean;
}

/** A workspace's WireGuard endpoint as its host made it; the client key is given only once. */
export interface AgentTunnel {
  port: number;
  serverPublicKey: string;
  clientPrivateKey: string;
}

export interface AgentCreateRequest {
  sandboxId: string;
  template: string;
  vcpus: number;
  memoryMb: number;
  diskMb: number;
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  allowInternet: boolean;
  allowOut: string[];
  denyOut: string[];
  /** With its password in clear: only ever sent to the agent. */
  egressProxy?: EgressProxyConfig;
  /** Header rules with their placeholders already resolved (secret values: never logged). */
  rules?: EgressPolicy["rules"];
  envdAccessToken: string;
  /** Host directories to bind into the sandbox (the agent checks them against its roots). */
  mounts: SandboxMountSpec[];
  /** A snapshot this host holds: the sandbox restores it (files and processes). */
  fromSnapshot?: string;
}

export interface SandboxMountSpec {
  hostPath: string;
  path: string;
  readOnly: boolean;
}

export interface AgentSandboxStats {
  timestamp: Date;
  cpuCount: number;
  cpuUsedPct: number;
  memUsedBytes: number;
  memTotalBytes: number;
  memCacheBytes: number;
  diskUsedBytes: number;
  diskTotalBytes: number;
}

export interface AgentHostStatus {
  hostId: string;
  hostname: string;
  version: string;
  runtimes: string[];
  total: HostCapacity;
  used: HostCapacity;
  sandboxesByState: Record<string, number>;
  /** Its artifact store is shared with other hosts: what it hibernates can resume elsewhere. */
  sharedStore: boolean;
}

export interface AgentHeartbeat {
  hostId: string;
  instanceId: string;
  sandboxCount: number;
  /** Goes up whenever a sandbox changes state on its own: reconcile when it moves. */
  stateVersion: bigint;
  /** When the agent process started: operations begun before were cut short with it. */
  startedAt?: Date;
}

/** Where the host agent's forwarder takes traffic for one sandbox port (see DESIGN, forwarder). */
export interface ForwardTarget {
  /** Base URL of the agent; the original path and query are appended unchanged. */
  url: string;
  /** Headers to add to the forwarded request. */
  headers: Record<string, string>;
  /**
   * For an agent reached over TLS (an https URL): the connection pool that trusts its
   * certificate (WRENN_AGENT_CA). Undefined for http, where each caller keeps its own pool.
   */
  tlsAgent?: HttpsAgent;
}

export type HostErrorKind =
  | "not_found"
  | "unavailable"
  | "invalid_argument"
  | "failed_precondition"
  | "resource_exhausted"
  | "unauthenticated"
  | "permission_denied"
  | "internal";

export class HostError extends Error {
  constructor(
    readonly kind: HostErrorKind,
    message: string,
    /** The contract error code the agent sent with the error (its refusals carry one). */
    readonly code?: ErrorCode,
  ) {
    super(message);
    this.name = "HostError";
  }
}

/** The control plane's view of one host agent. Implementations translate to HostAgentService. */
export interface HostClient {
  /** Returns once envd in the sandbox is ready. */
  createSandbox(request: AgentCreateRequest): Promise<AgentSandbox>;
  /** Succeeds for unknown sandboxes. */
  destroySandbox(sandboxId: string): Promise<void>;
  /** Null when the agent does not know the sandbox. */
  getSandbox(sandboxId: string): Promise<AgentSandbox | null>;
  listSandboxes(): Promise<AgentSandbox[]>;
  pauseSandbox(sandboxId: string): Promise<AgentSandbox>;
  resumeSandbox(sandboxId: string): Promise<AgentSandbox>;
  /**
   * Moves a paused sandbox to the artifact store and off the host (docs/hosts.md,
   * "Hibernation"); returns the bytes stored. The store failing leaves it paused there.
   */
  hibernateSandbox(sandboxId: string): Promise<{ storedBytes: number }>;
  /** Brings a hibernated sandbox from the artifact store onto this host, running. */
  restoreHibernatedSandbox(sandboxId: string): Promise<AgentSandbox>;
  /** Replaces the whole egress policy of a live sandbox (E2B's PUT /sandboxes/{id}/network). */
  updateSandboxNetwork(sandboxId: string, network: EgressPolicy): Promise<AgentSandbox>;
  sandboxStats(sandboxId: string): Promise<AgentSandboxStats>;
  /** Claims (or keeps) the sandbox's WireGuard port and makes new keys for both ends. */
  openWorkspaceTunnel(sandboxId: string): Promise<AgentTunnel>;
  /** Frees the port; succeeds when there is none. */
  closeWorkspaceTunnel(sandboxId: string): Promise<void>;
  hostStatus(): Promise<AgentHostStatus>;
  heartbeat(controlPlaneId: string): Promise<AgentHeartbeat>;
  listTemplates(): Promise<HostTemplate[]>;
  /**
   * Builds a template from an OCI image on the host, calling onProgress for every step and log
   * line; resolves when it is built, with what it takes on the host's disk. Refusals carry the
   * contract's code (image_not_found...).
   */
  buildTemplateFromImage(
    request: {
      name: string;
      image: string;
      username?: string;
      password?: string;
      /** Build on this host template instead of an image. */
      fromTemplate?: string;
      steps?: Array<{ type: string; args: string[]; files?: Buffer }>;
      startCmd?: string;
      readyCmd?: string;
      /** Skip the layer cache: every step reruns. */
      force?: boolean;
      /** Layers are shared only within one scope (a hash of the owner); none: no caching. */
      cacheScope?: string;
    },
    onProgress: (step: string, message: string) => void,
    /** Stops the build on the host (cancel, time limit): it fails with template_build_cancelled. */
    signal?: AbortSignal,
  ): Promise<{ sizeBytes: number }>;
  /** Removes an image template; refused with template_in_use while sandboxes use it. */
  deleteTemplate(name: string): Promise<void>;
  /**
   * Saves a running sandbox as snapshotId on this host; the sandbox keeps running. stored: it
   * is on the shared artifact store already, so any host can make sandboxes of it.
   */
  snapshotSandbox(
    sandboxId: string,
    snapshotId: string,
  ): Promise<{ sizeBytes: number; stored: boolean }>;
  /** Whether the snapshot this host holds is on the shared store yet; undefined: it holds none. */
  getSnapshot(snapshotId: string): Promise<{ stored: boolean } | undefined>;
  /** Succeeds for unknown snapshots; with a shared store it removes the stored copy too. */
  deleteSnapshot(snapshotId: string): Promise<void>;
  /**
   * Reads a file, or a tar of a tree, from the disk of a sandbox in state error (its processes
   * are gone). Resolves once the read has begun (its refusals reject: file_not_found,
   * files_unavailable...) with the absolute path read and the bytes; destroy body to stop.
   */
  readStoppedFiles(
    sandboxId: string,
    request: { path: string; format: "file" | "tar"; user?: string },
  ): Promise<{ path: string; body: Readable }>;
  forwardTarget(sandboxId: string, port: number): ForwardTarget;
}
