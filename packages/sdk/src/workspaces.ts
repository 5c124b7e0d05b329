// Workspaces (/v1/workspaces): named, persistent sandboxes with no end time. Suspend pauses one,
// resume brings it back; nothing ends one but destroy.
import type {
  CreatedWorkspace,
  CreateWorkspaceBody,
  WorkspaceClientConfig,
  Workspace as WorkspaceJson,
  WorkspaceState,
} from "@wrenn/contract";
import { ApiClient } from "./api-client.js";
import { ConnectionConfig, type ConnectionOpts } from "./connection-config.js";

export type { WorkspaceClientConfig, WorkspaceState };

/** A workspace as the server reports it (createdAt as a Date). */
export interface WorkspaceInfo extends Omit<WorkspaceJson, "createdAt"> {
  createdAt: Date;
}

/** A new workspace, with its WireGuard client config (its private key is given only here). */
export interface CreatedWorkspaceInfo extends WorkspaceInfo {
  clientConfig: WorkspaceClientConfig;
}

/** Sizes and image of a new workspace; what is left out takes the server's defaults. */
export type WorkspaceCreateOpts = Omit<CreateWorkspaceBody, "name"> & ConnectionOpts;

const parse = (w: WorkspaceJson): WorkspaceInfo => ({ ...w, createdAt: new Date(w.createdAt) });
const path = (name: string) => `/v1/workspaces/${encodeURIComponent(name)}`;

/** A change that gives the workspace a new WireGuard endpoint: its answer holds the config. */
async function reconfigured(
  name: string,
  action: "restore" | "move",
  body: unknown,
  opts: ConnectionOpts,
): Promise<CreatedWorkspaceInfo> {
  const api = new ApiClient(new ConnectionConfig(opts));
  const w = (await api.json({
    method: "POST",
    path: `${path(name)}/${action}`,
    body,
    timeoutMs: 0,
  })) as CreatedWorkspace;
  return { ...parse(w), clientConfig: w.clientConfig };
}

/**
 * The workspace operations, by name. Every method takes the connection options (apiKey, apiUrl,
 * ...) as Sandbox's static methods do.
 */
export const Workspaces = {
  async create(name: string, opts: WorkspaceCreateOpts = {}): Promise<CreatedWorkspaceInfo> {
    const { image, vcpus, memoryMb, diskGb, ...connection } = opts;
    const body: CreateWorkspaceBody = { name, image, vcpus, memoryMb, diskGb };
    const api = new ApiClient(new ConnectionConfig(connection));
    // A cold boot with a bigger disk: no client-side deadline shorter than the server's own.
    const w = (await api.json({
      method: "POST",
      path: "/v1/workspaces",
      body,
      timeoutMs: 0,
    })) as CreatedWorkspace;
    return { ...parse(w), clientConfig: w.clientConfig };
  },

  async list(opts: ConnectionOpts = {}): Promise<WorkspaceInfo[]> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const r = (await api.json({ path: "/v1/workspaces" })) as { workspaces: WorkspaceJson[] };
    return r.workspaces.map(parse);
  },

  async get(name: string, opts: ConnectionOpts = {}): Promise<WorkspaceInfo> {
    const api = new ApiClient(new ConnectionConfig(opts));
    return parse((await api.json({ path: path(name) })) as WorkspaceJson);
  },

  async suspend(name: string, opts: ConnectionOpts = {}): Promise<WorkspaceInfo> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const w = await api.json({ method: "POST", path: `${path(name)}/suspend`, timeoutMs: 0 });
    return parse(w as WorkspaceJson);
  },

  async resume(name: string, opts: ConnectionOpts = {}): Promise<WorkspaceInfo> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const w = await api.json({ method: "POST", path: `${path(name)}/resume`, timeoutMs: 0 });
    return parse(w as WorkspaceJson);
  },

  /**
   * New WireGuard keys for both ends (same port): the old client config stops working; the
   * new one, private key included, is in this answer only.
   */
  async rotate(name: string, opts: ConnectionOpts = {}): Promise<WorkspaceClientConfig> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const c = await api.json({ method: "POST", path: `${path(name)}/rotate` });
    return c as WorkspaceClientConfig;
  },

  /**
   * Runs the workspace from one of your snapshots (a new sandbox; the one it ran is destroyed).
   * Its WireGuard port and keys are new: the answer holds the new client config, once.
   */
  async restore(
    name: string,
    snapshotId: string,
    opts: ConnectionOpts = {},
  ): Promise<CreatedWorkspaceInfo> {
    return reconfigured(name, "restore", { snapshotId }, opts);
  },

  /**
   * Moves the workspace to another host (its id, or the host name its agent reports) through
   * the artifact store both hosts share: disk, memory and processes go along. Its WireGuard
   * port and keys are the new host's: the answer holds the new client config, once; the old
   * one stops working.
   */
  async move(
    name: string,
    hostId: string,
    opts: ConnectionOpts = {},
  ): Promise<CreatedWorkspaceInfo> {
    return reconfigured(name, "move", { hostId }, opts);
  },

  /** Destroys the workspace and its disk; the name is free afterwards. */
  async destroy(name: string, opts: ConnectionOpts = {}): Promise<void> {
    const api = new ApiClient(new ConnectionConfig(opts));
    await api.json({ method: "DELETE", path: path(name), timeoutMs: 0 });
  },
};
