import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import {
  ENVD_ACCESS_TOKEN_HEADER,
  errorMessage,
  FORWARD_RELAY_HEADER,
  isErrorCode,
  SSH_LIMITS,
  SSH_PORT,
  TCP_RELAY_UPGRADE,
  WORKSPACE_IDLE_SUSPEND_SECONDS,
} from "@wrenn/contract";
import type { AuditLog } from "../service/audit-log.js";
import { ServiceError } from "../service/errors.js";
import type { SandboxService } from "../service/sandbox-service.js";
import type { Principal } from "../service/sandbox-types.js";
import type { WorkspaceService } from "./workspace-service.js";
import type { WorkspaceSshd } from "./workspace-sshd.js";

export interface SshTunnel {
  /** The raw byte stream to the workspace's sshd. */
  stream: Duplex;
  /** The host key sshd presents, read from the workspace as it was prepared (null: unread). */
  hostKey: string | null;
  /** Ends the tunnel and frees its place in the owner's count; idempotent. */
  close(): void;
}

export interface SshTunnelOptions {
  workspaces: WorkspaceService;
  sandboxes: SandboxService;
  sshd: WorkspaceSshd;
  /** One `workspace.ssh` row per connection made (its keep-alives write none). */
  audit?: AuditLog;
  tunnelsPerOwner?: number;
  idleSeconds?: number;
  /** How long the agent may take to answer the upgrade (SSH_LIMITS.relayAnswerSeconds). */
  answerMs?: number;
}

/**
 * SSH into a workspace over the control plane's own port: a byte stream to sshd on the
 * workspace's loopback, through its host agent's forwarder (FORWARD_RELAY_HEADER "tcp") and
 * envd's relay. A suspended workspace is resumed first. Bounded per owner, and closed after
 * SSH_LIMITS.tunnelIdleSeconds without a byte either way.
 */
export class SshTunnels {
  private readonly perOwner = new Map<string, number>();
  /** Tunnels opening or open per sandbox: sshd is stopped when the last one goes. */
  private readonly perSandbox = new Map<string, number>();
  private readonly open = new Set<SshTunnel>();

  constructor(private readonly options: SshTunnelOptions) {}

  /** `signal`: the client went away; whatever is still pending is dropped and its slot freed. */
  async connect(principal: Principal, name: unknown, signal?: AbortSignal): Promise<SshTunnel> {
    const max = this.options.tunnelsPerOwner ?? SSH_LIMITS.tunnelsPerOwner;
    const held = this.perOwner.get(principal.ownerId) ?? 0;
    if (held >= max) {
      throw new ServiceError("too_many_ssh_tunnels", errorMessage("too_many_ssh_tunnels", { max }));
    }
    this.perOwner.set(principal.ownerId, held + 1);
    let released = false;
    let release = () => {
      if (released) return;
      released = true;
      const n = (this.perOwner.get(principal.ownerId) ?? 1) - 1;
      if (n <= 0) this.perOwner.delete(principal.ownerId);
      else this.perOwner.set(principal.ownerId, n);
    };
    try {
      const sandbox = await this.options.workspaces.reach(principal, name);
      const sandboxId = sandbox.id;
      this.perSandbox.set(sandboxId, (this.perSandbox.get(sandboxId) ?? 0) + 1);
      const ownerRelease = release;
      let left = false;
      release = () => {
        ownerRelease();
        if (left) return;
        left = true;
        const n = (this.perSandbox.get(sandboxId) ?? 1) - 1;
        if (n > 0) {
          this.perSandbox.set(sandboxId, n);
          return;
        }
        this.perSandbox.delete(sandboxId);
        this.options.sshd.stopSoon(principal, sandboxId);
      };
      if (signal?.aborted) throw clientGone();
      const hostKey = await this.options.sshd.prepare(principal, sandboxId);
      // A workspace made before Wrenn pinned host keys (or whose key could not be read then).
      if (hostKey) await this.options.workspaces.rememberHostKey(principal, sandboxId, hostKey);
      if (signal?.aborted) throw clientGone();
      const stream = await this.upgrade(principal, sandboxId, signal);
      const idleMs = (this.options.idleSeconds ?? SSH_LIMITS.tunnelIdleSeconds) * 1000;
      // An open tunnel is the workspace in use: its idle deadline is moved on at the open, every
      // half idle period while it stays open, and at its close (the idle time counts from there).
      const keepAlive = () => {
        this.options.workspaces.keepAlive(principal, sandboxId).catch(() => {});
      };
      const renewing = setInterval(keepAlive, (WORKSPACE_IDLE_SUSPEND_SECONDS * 1000) / 2);
      renewing.unref();
      let closed = false;
      const tunnel: SshTunnel = {
        stream,
        hostKey,
        close: () => {
          if (closed) return;
          closed = true;
          clearInterval(renewing);
          this.open.delete(tunnel);
          stream.destroy();
          release();
          keepAlive();
        },
      };
      keepAlive();
      this.open.add(tunnel);
      void this.options.audit?.record({
        actor: "api",
        ownerId: principal.ownerId,
        apiKeyId: principal.keyId,
        action: "workspace.ssh",
        sandboxId,
        outcome: "ok",
        detail: { workspace: String(name) },
      });
      if ("setTimeout" in stream && typeof stream.setTimeout === "function") {
        (stream as import("node:net").Socket).setTimeout(idleMs, () => tunnel.close());
      }
      stream.once("close", () => tunnel.close());
      return tunnel;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Cuts every tunnel (shutdown). */
  closeAll(): void {
    for (const tunnel of [...this.open]) tunnel.close();
  }

  /**
   * The upgrade through the agent. Its refusal body is read up to SSH_LIMITS.relayRefusalBytes
   * and its answer awaited SSH_LIMITS.relayAnswerSeconds: past either (or when `signal` fires),
   * the request is destroyed and the connection refused, so a stuck sandbox never holds a slot.
   */
  private async upgrade(
    principal: Principal,
    sandboxId: string,
    signal?: AbortSignal,
  ): Promise<Duplex> {
    const endpoint = await this.options.sandboxes.endpoint(principal, sandboxId);
    const target = endpoint.client.forwardTarget(endpoint.id, SSH_PORT);
    const url = new URL(target.url);
    const request = (url.protocol === "https:" ? https : http).request({
      protocol: url.protocol,
      host: url.hostname,
      port: url.port,
      method: "GET",
      path: "/",
      ...(target.tlsAgent ? { agent: target.tlsAgent } : {}),
      headers: {
        ...target.headers,
        [FORWARD_RELAY_HEADER]: "tcp",
        ...(endpoint.envdAccessToken
          ? { [ENVD_ACCESS_TOKEN_HEADER]: endpoint.envdAccessToken }
          : {}),
        connection: "Upgrade",
        upgrade: TCP_RELAY_UPGRADE,
      },
    });
    return new Promise<Duplex>((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined, stream?: Duplex) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal?.removeEventListener("abort", onAbort);
        if (error) {
          request.destroy();
          reject(error);
        } else if (stream) {
          resolve(stream);
        }
      };
      const deadline = setTimeout(
        () =>
          settle(
            new ServiceError(
              "sandbox_unreachable",
              "the workspace did not answer the ssh connection in time",
            ),
          ),
        this.options.answerMs ?? SSH_LIMITS.relayAnswerSeconds * 1000,
      );
      const onAbort = () => settle(clientGone());
      signal?.addEventListener("abort", onAbort, { once: true });
      request.once("upgrade", (_res, socket, head) => {
        if (settled) return socket.destroy();
        // Held until the WebSocket side is attached (sshd speaks first: its banner must wait).
        socket.pause();
        if (head.length > 0) socket.unshift(head);
        socket.setNoDelay(true);
        settle(undefined, socket);
      });
      request.once("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > SSH_LIMITS.relayRefusalBytes) return settle(refusalOf(502, Buffer.alloc(0)));
          chunks.push(c);
        });
        res.once("end", () => settle(refusalOf(res.statusCode ?? 502, Buffer.concat(chunks))));
        res.once("error", () => settle(refusalOf(502, Buffer.alloc(0))));
      });
      request.on("error", (error) =>
        settle(
          new ServiceError(
            "host_unavailable",
            `the workspace's host did not answer: ${error.message}`,
          ),
        ),
      );
      if (signal?.aborted) onAbort();
      else request.end();
    });
  }
}

function clientGone(): ServiceError {
  return new ServiceError("sandbox_unreachable", "the client went away before the tunnel opened");
}

/** The relay's refusal as a ServiceError: its own code when it names one. */
function refusalOf(status: number, body: Buffer): ServiceError {
  let parsed: { error?: { code?: unknown; message?: unknown }; message?: unknown } = {};
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {}
  const code = parsed.error?.code;
  const message = String(parsed.error?.message ?? parsed.message ?? `status ${status}`);
  if (isErrorCode(code)) return new ServiceError(code, message);
  if (status === 502) {
    return new ServiceError(
      "workspace_sshd_failed",
      `the workspace's sshd did not answer: ${message}`,
    );
  }
  return new ServiceError("sandbox_unreachable", `the workspace could not be reached: ${message}`);
}
