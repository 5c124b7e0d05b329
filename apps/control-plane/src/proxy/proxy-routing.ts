// Which requests the proxy takes, and where they go. Pure: no I/O, so every rule is unit-tested.
import type { IncomingHttpHeaders } from "node:http";
import { E2B_SANDBOX_ID_HEADER, E2B_SANDBOX_PORT_HEADER, ENVD_PORT } from "@wrenn/contract";

export type ProxyRoute =
  /** E2B's envd plane: E2b-Sandbox-Id/-Port headers, or a `<port>-<id>.<domain>` host. */
  | { kind: "sandbox"; via: "header" | "host"; sandboxId: string; port: number }
  /** /v1/sandboxes/{id}/ports/{port}/...: our own API, key required, prefix stripped. */
  | { kind: "port"; sandboxId: string; port: number; url: string }
  /** A signed /files URL without a sandbox id (E2B's downloadUrl/uploadUrl with a shared origin). */
  | { kind: "signed"; signature: string }
  /**
   * envd's HTTP API (/files, /health) with the sandbox's access token but no sandbox id: e2b
   * 2.7-2.15 send the E2b-Sandbox-Id header on RPCs only, so in E2B_SANDBOX_URL mode the token
   * is the only thing that names the sandbox.
   */
  | { kind: "token"; token: string }
  /** Taken by the proxy but refused: answer with this status. */
  | { kind: "invalid"; style: "e2b" | "wrenn"; status: number; message: string };

const PORTS_PATH = /^\/v1\/sandboxes\/([^/?#]+)\/ports\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/;

function parsePort(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65_535 ? port : null;
}

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** Hostname of a Host header or a configured domain, lower case, port removed. */
export function hostname(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith("[")) return v.slice(0, v.indexOf("]") + 1);
  return v.replace(/:\d+$/, "");
}

/**
 * The route of a request, or null when it is the API's. Order: a sandbox host name wins, then
 * E2B's headers, then the /v1 ports prefix, then a signed /files URL.
 */
export function routeOf(
  request: { url?: string; headers: IncomingHttpHeaders },
  domain?: string,
): ProxyRoute | null {
  const url = request.url ?? "/";
  const host = single(request.headers.host);
  if (domain && host) {
    const name = hostname(host);
    const suffix = `.${hostname(domain)}`;
    if (name.endsWith(suffix)) {
      const label = name.slice(0, -suffix.length);
      const match = /^(\d{1,5})-([a-z0-9-]+)$/.exec(label);
      const port = parsePort(match?.[1]);
      // Other names under the domain (api.<domain>, say) are the API's.
      if (match && port !== null)
        return { kind: "sandbox", via: "host", sandboxId: match[2]!, port };
    }
  }

  const sandboxId = single(request.headers[E2B_SANDBOX_ID_HEADER]);
  if (sandboxId !== undefined) {
    const portHeader = single(request.headers[E2B_SANDBOX_PORT_HEADER]);
    const port = portHeader === undefined ? ENVD_PORT : parsePort(portHeader);
    if (port === null) {
      return {
        kind: "invalid",
        style: "e2b",
        status: 400,
        message: "E2b-Sandbox-Port must be 1-65535",
      };
    }
    return { kind: "sandbox", via: "header", sandboxId, port };
  }

  if (url.startsWith("/v1/sandboxes/")) {
    const match = PORTS_PATH.exec(url);
    if (match) {
      const port = parsePort(match[2]);
      if (port === null) {
        return { kind: "invalid", style: "wrenn", status: 400, message: "port must be 1-65535" };
      }
      let sandboxId: string;
      try {
        sandboxId = decodeURIComponent(match[1]!);
      } catch {
        return { kind: "invalid", style: "wrenn", status: 400, message: "malformed sandbox id" };
      }
      return { kind: "port", sandboxId, port, url: `${match[3] ?? "/"}${match[4] ?? ""}` };
    }
  }

  const files = url === "/files" || url.startsWith("/files?");
  if (files) {
    const signature = new URLSearchParams(url.slice("/files".length)).get("signature");
    if (signature) return { kind: "signed", signature };
  }
  const token = single(request.headers["x-access-token"]);
  if (token && (files || url === "/health")) return { kind: "token", token };
  return null;
}
