// `wrenn mcp --http`: the MCP server over streamable HTTP at http://127.0.0.1:PORT/mcp, one MCP
// session (server + transport) per client. Loopback only, and the Host header must name it
// (DNS rebinding protection), since whoever reaches it acts with the server's API key.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

export const MCP_HTTP_PATH = "/mcp";
// write_file carries a whole file in one message: room for large ones, not unbounded.
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface McpHttpServer {
  url: string;
  /** Resolves when the server has stopped (it stops on close()). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export async function serveMcpHttp(
  newServer: () => McpServer,
  port: number,
): Promise<McpHttpServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let allowedHosts: string[] = [];

  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) rpcError(res, 500, -32603, String(error));
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (new URL(req.url ?? "/", "http://x").pathname !== MCP_HTTP_PATH) {
      return rpcError(res, 404, -32000, `not found: the MCP endpoint is ${MCP_HTTP_PATH}`);
    }
    const header = req.headers["mcp-session-id"];
    const sessionId = Array.isArray(header) ? header[0] : header;
    const known = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (known) return known.handleRequest(req, res);
    if (sessionId !== undefined) return rpcError(res, 404, -32001, "unknown or closed session");
    if (req.method !== "POST") return rpcError(res, 400, -32000, "no session: initialize first");

    const body = await readJson(req, res);
    if (body === undefined) return;
    if (!isInitializeRequest(body)) {
      return rpcError(res, 400, -32000, "no session: the first request must be initialize");
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      enableDnsRebindingProtection: true,
      allowedHosts,
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await newServer().connect(transport);
    await transport.handleRequest(req, res, body);
  }

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, "127.0.0.1", () => resolve());
  });
  const bound = (http.address() as AddressInfo).port;
  allowedHosts = [`127.0.0.1:${bound}`, `localhost:${bound}`];
  const closed = new Promise<void>((resolve) => http.once("close", () => resolve()));
  return {
    url: `http://127.0.0.1:${bound}${MCP_HTTP_PATH}`,
    closed,
    async close() {
      await Promise.all([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The request's JSON body; undefined after answering 400/413 itself. */
async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      rpcError(res, 413, -32000, `request body over ${MAX_BODY_BYTES} bytes`);
      return undefined;
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    rpcError(res, 400, -32700, "parse error: the body is not JSON");
    return undefined;
  }
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}
