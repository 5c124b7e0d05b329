import type { IncomingMessage } from "node:http";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { isSshHostKey, SSH_HOST_KEY_HEADER, WorkspaceName } from "@wrenn/contract";
import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { type RawData, WebSocket } from "ws";
import type { SshTunnel } from "../../workspaces/ssh-tunnels.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { heartbeat, sendBytes } from "./ws-session.js";

const NameParams = Type.Object({ name: WorkspaceName });

/**
 * GET /v1/workspaces/{name}/ssh: a WebSocket whose binary frames carry the bytes of one TCP
 * connection to the workspace's sshd, both ways (`wrenn ssh --stdio NAME` as an ssh
 * ProxyCommand). Everything that can fail is checked before the upgrade, so a refusal is an
 * ordinary 4xx/5xx with a JSON error body; after it only the bytes flow.
 */
export const workspaceSshRoute: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const tunnels = new WeakMap<FastifyRequest, SshTunnel>();
  // The 101 carries the host key this tunnel's sshd presents (read as it was prepared), so the
  // client pins what it is about to be shown, not what an earlier read said. `ws` writes the
  // handshake itself; its "headers" event is the one place to add to it.
  const hostKeys = new WeakMap<IncomingMessage, string>();
  app.websocketServer.on("headers", (headers: string[], req: IncomingMessage) => {
    const key = hostKeys.get(req);
    if (key !== undefined) headers.push(`${SSH_HOST_KEY_HEADER}: ${key}`);
  });
  app.get(
    "/workspaces/:name/ssh",
    {
      websocket: true,
      schema: {
        tags: ["workspaces"],
        security: [{ apiKey: [] }],
        summary: "WebSocket: a raw SSH connection to the workspace's sshd (resumes it first)",
        description:
          "Upgrade to a WebSocket. Binary frames carry the SSH connection's bytes both ways (what `wrenn ssh --stdio NAME` relays for OpenSSH's ProxyCommand). The workspace is resumed when suspended, the owner's registered SSH keys are written to its authorized_keys and its sshd started on its loopback. The 101 answer carries the host key the workspace's sshd presents on this connection in `x-wrenn-ssh-host-key` (when it could be read): pin it before relaying. Refusals come before the upgrade: 404 workspace_not_found, 409 workspace_no_sshd, 429 too_many_ssh_tunnels.",
        params: NameParams,
      },
      preHandler: async (request) => {
        // The client's socket closing, at any point, drops a pending connect (its slot freed)
        // or ends the tunnel if the upgrade never completes.
        const gone = new AbortController();
        const socket = request.raw.socket;
        const onClose = () => {
          gone.abort();
          tunnels.get(request)?.close();
        };
        socket.once("close", onClose);
        if (socket.destroyed) gone.abort();
        const tunnel = await deps.sshTunnels
          .connect(principalOf(request), request.params.name, gone.signal)
          .catch((error: unknown) => {
            socket.off("close", onClose);
            throw error;
          });
        tunnels.set(request, tunnel);
        // Checked again here: a header line must never carry anything but the key.
        if (isSshHostKey(tunnel.hostKey)) hostKeys.set(request.raw, tunnel.hostKey);
        if (gone.signal.aborted) tunnel.close();
      },
    },
    (socket, request) => {
      const tunnel = tunnels.get(request);
      if (!tunnel) {
        socket.close(1011, "no tunnel");
        return;
      }
      bridge(socket, tunnel);
    },
  );
};

/** Client frames into the tunnel, tunnel bytes into frames, with backpressure both ways. */
function bridge(socket: WebSocket, tunnel: SshTunnel): void {
  heartbeat(socket);
  const { stream } = tunnel;
  stream.on("data", (chunk: Buffer) => {
    stream.pause();
    sendBytes(socket, chunk).then(() => stream.resume());
  });
  stream.resume();
  socket.on("message", (data: RawData) => {
    const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!stream.write(chunk)) {
      socket.pause();
      stream.once("drain", () => socket.resume());
    }
  });
  const end = () => {
    tunnel.close();
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, "closed");
  };
  stream.once("close", end);
  stream.once("end", end);
  stream.on("error", end);
  socket.once("close", () => tunnel.close());
  socket.on("error", () => tunnel.close());
}
