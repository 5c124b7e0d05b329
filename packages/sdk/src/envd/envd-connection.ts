// envd inside one sandbox, reached through the control plane's proxy at
// /v1/sandboxes/{id}/ports/49983/...: the control plane checks the API key and the owner, envd
// checks its own access token. Connect RPC over fetch (connect-web), so Node, Bun and Deno work
// alike with no native code.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  ENVD_ACCESS_TOKEN_HEADER,
  ENVD_KEEPALIVE_SECONDS,
  ENVD_PORT,
  ENVD_REPLAY_FROM_HEADER,
  ENVD_REPLAY_START_HEADER,
} from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { failure } from "../api-client.js";
import { errorFromBody } from "../error-mapping.js";
import { abortableResponse } from "./abortable-body.js";

export { ENVD_PORT };

/** Wrenn's replay-on-reconnect headers and envd's keepalive period, from the contract. */
export const REPLAY_FROM_HEADER = ENVD_REPLAY_FROM_HEADER;
export const REPLAY_START_HEADER = ENVD_REPLAY_START_HEADER;
export const KEEPALIVE_SECONDS = ENVD_KEEPALIVE_SECONDS;

/** The route to one sandbox's envd, with the API key and envd's access token attached. */
export class EnvdConnection {
  readonly baseUrl: string;
  readonly transport: Transport;

  constructor(
    readonly api: ApiClient,
    readonly sandboxId: string,
    /** envd's token (X-Access-Token); replaced when a resume hands out another. */
    public accessToken: string,
  ) {
    this.baseUrl = api.url(`/v1/sandboxes/${encodeURIComponent(sandboxId)}/ports/${ENVD_PORT}`);
    this.transport = createConnectTransport({
      baseUrl: this.baseUrl,
      useBinaryFormat: false,
      fetch: (input, init) => this.fetch(input, init),
    });
  }

  /** Headers of a Connect call as `user` (envd's default user when undefined). */
  rpcHeaders(user?: string, extra: Record<string, string> = {}): Record<string, string> {
    return user === undefined ? extra : { ...extra, authorization: basicAuth(user) };
  }

  /**
   * fetch to envd with our credentials. A refusal in Wrenn's shape (the proxy's 401/404/409 on
   * the /v1 prefix) or E2B's (the proxy's 502 when the host does not answer) is raised here as
   * a typed error; envd's own Connect errors go back to connect-web to read.
   */
  async fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(this.api.headers())) if (!headers.has(k)) headers.set(k, v);
    headers.set(ENVD_ACCESS_TOKEN_HEADER, this.accessToken);
    let response: Response;
    try {
      response = await this.api.config.fetch(input, { ...init, headers });
    } catch (error) {
      throw failure(
        error,
        { path: String(input), signal: init.signal ?? undefined },
        this.api.config.apiUrl,
      );
    }
    if (response.ok) return abortableResponse(response, init.signal);
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json")) return response;
    const text = await response.text();
    if (isConnectError(text)) {
      return new Response(text, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    }
    throw errorFromBody(response.status, text, response.headers.get("retry-after"));
  }
}

/** A Connect unary error body: {"code":"not_found","message":...} (a string code). */
function isConnectError(text: string): boolean {
  try {
    const body = JSON.parse(text) as { code?: unknown; error?: unknown };
    return typeof body.code === "string" && body.error === undefined;
  } catch {
    return false;
  }
}

function basicAuth(user: string): string {
  const bytes = new TextEncoder().encode(`${user}:`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}
