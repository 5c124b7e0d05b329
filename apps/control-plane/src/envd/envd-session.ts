import http from "node:http";
import https from "node:https";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ENVD_ACCESS_TOKEN_HEADER, ENVD_PORT } from "@wrenn/contract";
import { Filesystem } from "@wrenn/proto/filesystem";
import { Process } from "@wrenn/proto/process";
import type { SandboxEndpoint, SandboxService } from "../service/sandbox-service.js";
import type { Principal } from "../service/sandbox-types.js";

/** The agent's forwarder, shared by every session: keep-alive sockets to each host agent. */
const agentSockets = new http.Agent({ keepAlive: true, maxSockets: 512 });

/**
 * envd of one running sandbox, reached through its host agent's forwarder: Connect clients for
 * the process and filesystem services and raw requests to /files. Commands and files are
 * envd's to define, so this only carries them.
 */
export interface EnvdSession {
  sandbox: SandboxEndpoint;
  /** The Linux user calls run as (envd's default user, `user`, when undefined). */
  user?: string;
  process: Client<typeof Process>;
  filesystem: Client<typeof Filesystem>;
  /** Starts a request to envd's /files (`path` and `username` are added to the query). */
  filesRequest(
    method: "GET" | "POST",
    path: string,
    headers?: Record<string, string>,
  ): http.ClientRequest;
}

export class EnvdGateway {
  constructor(private readonly sandboxes: SandboxService) {}

  /** 404 for a sandbox that is not the principal's, 409 for one that is not running. */
  async open(principal: Principal | null, sandboxId: string, user?: string): Promise<EnvdSession> {
    return sessionFor(await this.sandboxes.endpoint(principal, sandboxId), user);
  }

  /** A failed sandbox's host, whose agent reads its disk (404 when not the principal's). */
  failedHost(principal: Principal | null, sandboxId: string) {
    return this.sandboxes.failedSandboxHost(principal, sandboxId);
  }
}

export function sessionFor(sandbox: SandboxEndpoint, user?: string): EnvdSession {
  const target = sandbox.client.forwardTarget(sandbox.id, ENVD_PORT);
  const headers: Record<string, string> = {
    ...target.headers,
    [ENVD_ACCESS_TOKEN_HEADER]: sandbox.envdAccessToken,
  };
  // envd picks the user of an RPC from Basic auth (the password is ignored).
  const rpcHeaders: Record<string, string> = user
    ? { ...headers, authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}` }
    : headers;
  const addHeaders: Interceptor = (next) => (request) => {
    for (const [name, value] of Object.entries(rpcHeaders)) request.header.set(name, value);
    return next(request);
  };
  const transport = createConnectTransport({
    baseUrl: target.url,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [addHeaders],
    nodeOptions: { agent: target.tlsAgent ?? agentSockets },
  });
  const base = new URL(target.url);
  return {
    sandbox,
    user,
    process: createClient(Process, transport),
    filesystem: createClient(Filesystem, transport),
    filesRequest(method, path, extra = {}) {
      const query = new URLSearchParams({ path });
      if (user) query.set("username", user);
      return (base.protocol === "https:" ? https : http).request({
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method,
        path: `/files?${query}`,
        agent: target.tlsAgent ?? agentSockets,
        headers: { ...headers, ...extra },
      });
    },
  };
}
