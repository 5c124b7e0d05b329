// Wrenn's /v1 REST API over fetch: JSON in, JSON out, every failure a typed error.
import { API_KEY_HEADER } from "@wrenn/contract";
import type { ConnectionConfig } from "./connection-config.js";
import { connectionError, errorFromBody, isNetworkFailure } from "./error-mapping.js";
import { TimeoutError, UnexpectedResponseError, WrennError } from "./errors.js";

export const SDK_VERSION = "0.1.0";

export type QueryValue = string | number | boolean | undefined | string[];

export interface ApiRequest {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  /** Path under the API's root, e.g. `/v1/sandboxes`. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  signal?: AbortSignal;
  /** Overrides the config's requestTimeoutMs (0: none). */
  timeoutMs?: number;
  /** false: send no API key (/healthz needs none, and a missing key must not stop it). */
  auth?: boolean;
}

/** A thin client of the control plane's HTTP API, shared by the SDK and the CLI. */
export class ApiClient {
  constructor(readonly config: ConnectionConfig) {}

  /** The full URL of an API path with its query. */
  url(path: string, query: Record<string, QueryValue> = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) params.append(name, v);
      else params.append(name, String(value));
    }
    const qs = params.toString();
    return `${this.config.apiUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** Headers of every API call: the key (unless `auth` is false), a user agent, the extras. */
  headers(extra: Record<string, string> = {}, auth = true): Record<string, string> {
    return {
      "user-agent": `wrenn-sdk-js/${SDK_VERSION}`,
      ...this.config.headers,
      ...(auth ? { [API_KEY_HEADER]: this.config.apiKey } : {}),
      ...extra,
    };
  }

  /** Sends a request and returns the parsed JSON (undefined for 204). Throws typed errors. */
  async json(req: ApiRequest): Promise<unknown> {
    const response = await this.send(req);
    if (response.status === 204) return undefined;
    const text = await response.text();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new UnexpectedResponseError(
        "invalid_json",
        `${req.method ?? "GET"} ${req.path} answered ${response.status} with a body that is not JSON: ${text.slice(0, 120)}`,
      );
    }
  }

  /** Sends a request; resolves with a 2xx response (body unread), throws typed errors otherwise. */
  async send(req: ApiRequest): Promise<Response> {
    const method = req.method ?? "GET";
    const signal = this.config.requestSignal(req.signal, req.timeoutMs);
    const headers = this.headers(
      req.body === undefined ? {} : { "content-type": "application/json" },
      req.auth !== false,
    );
    let response: Response;
    try {
      response = await this.config.fetch(this.url(req.path, req.query), {
        method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal,
      });
    } catch (error) {
      throw failure(error, req, this.config.apiUrl);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => "");
    throw errorFromBody(response.status, text, response.headers.get("retry-after"));
  }
}

/** A fetch that threw: the caller's abort, our timeout, or the network. */
export function failure(error: unknown, req: { path: string; signal?: AbortSignal }, url: string) {
  if (error instanceof WrennError) return error;
  if (req.signal?.aborted) return req.signal.reason ?? error;
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return new TimeoutError(
      "request_timeout",
      `${req.path}: no answer in time (${error.message})`,
      {
        cause: error,
      },
    );
  }
  if (isNetworkFailure(error)) return connectionError(error, url);
  return error;
}
