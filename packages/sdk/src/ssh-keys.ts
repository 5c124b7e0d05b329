// SSH public keys (/v1/ssh-keys): the keys that open the owner's workspaces over SSH
// (`wrenn ssh NAME`). Never a password.
import type { CreateSshKeyBody, SshKey as SshKeyJson } from "@wrenn/contract";
import { ApiClient } from "./api-client.js";
import { ConnectionConfig, type ConnectionOpts } from "./connection-config.js";

/** A registered key (createdAt as a Date). */
export interface SshKeyInfo extends Omit<SshKeyJson, "createdAt"> {
  createdAt: Date;
}

const parse = (k: SshKeyJson): SshKeyInfo => ({ ...k, createdAt: new Date(k.createdAt) });

export const SshKeys = {
  /** Registers an OpenSSH public key line (e.g. the contents of ~/.ssh/id_ed25519.pub). */
  async add(publicKey: string, opts: { name?: string } & ConnectionOpts = {}): Promise<SshKeyInfo> {
    const { name, ...connection } = opts;
    const body: CreateSshKeyBody = { publicKey, ...(name ? { name } : {}) };
    const api = new ApiClient(new ConnectionConfig(connection));
    return parse((await api.json({ method: "POST", path: "/v1/ssh-keys", body })) as SshKeyJson);
  },

  async list(opts: ConnectionOpts = {}): Promise<SshKeyInfo[]> {
    const api = new ApiClient(new ConnectionConfig(opts));
    const r = (await api.json({ path: "/v1/ssh-keys" })) as { keys: SshKeyJson[] };
    return r.keys.map(parse);
  },

  async remove(id: string, opts: ConnectionOpts = {}): Promise<void> {
    const api = new ApiClient(new ConnectionConfig(opts));
    await api.json({ method: "DELETE", path: `/v1/ssh-keys/${encodeURIComponent(id)}` });
  },
};

/**
 * Where a raw SSH connection to a workspace is opened (a WebSocket; binary frames carry the
 * bytes) and the headers it needs: what `wrenn ssh --stdio NAME` connects to.
 */
export function workspaceSshEndpoint(
  name: string,
  opts: ConnectionOpts = {},
): { url: string; headers: Record<string, string> } {
  const api = new ApiClient(new ConnectionConfig(opts));
  const url = new URL(api.url(`/v1/workspaces/${encodeURIComponent(name)}/ssh`));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return { url: url.toString(), headers: api.headers() };
}
