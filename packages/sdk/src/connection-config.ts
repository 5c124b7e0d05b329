// Where the control plane is and how to talk to it: options first, then the environment.
import { AuthenticationError, InvalidArgumentError } from "./errors.js";

export const DEFAULT_API_URL = "http://127.0.0.1:3000";
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** How long a broken process stream keeps trying to reconnect before giving up. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

export interface ConnectionOpts {
  /** API key (`wrn_…`); default `WRENN_API_KEY`. */
  apiKey?: string;
  /** The control plane's URL; default `WRENN_API_URL`, else http://127.0.0.1:3000 (`wrenn up`). */
  apiUrl?: string;
  /**
   * The control plane's WRENN_DOMAIN (wildcard DNS), for `getHost(port)` names
   * `<port>-<id>.<domain>`; default `WRENN_DOMAIN`. Without it, `getHost` gives the API's
   * `/v1/sandboxes/{id}/ports/{port}` address (which needs the API key).
   */
  domain?: string;
  /**
   * Bounds each API call and the wait for a stream's first message (ms; 0: no bound). Never
   * the length of a stream: a command may stream for as long as it runs. Default 60000.
   */
  requestTimeoutMs?: number;
  /**
   * How long a dropped process stream keeps reconnecting (ms) before `StreamLostError`.
   * Default 60000.
   */
  reconnectTimeoutMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Aborts the call it is given to. */
  signal?: AbortSignal;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
}

/** Reads an environment variable in Node, Bun and Deno alike; undefined when unset or not allowed. */
export function readEnv(name: string): string | undefined {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env?: { get(name: string): string | undefined } };
  };
  try {
    const fromProcess = g.process?.env?.[name];
    if (fromProcess !== undefined) return fromProcess;
    return g.Deno?.env?.get(name);
  } catch {
    // Deno without --allow-env throws: treat as unset.
    return undefined;
  }
}

/** The resolved settings every call uses. */
export class ConnectionConfig {
  readonly apiUrl: string;
  readonly domain: string | undefined;
  readonly requestTimeoutMs: number;
  readonly reconnectTimeoutMs: number;
  readonly headers: Record<string, string>;
  readonly fetch: typeof fetch;
  private readonly key: string | undefined;

  constructor(opts: ConnectionOpts = {}) {
    const url = opts.apiUrl ?? readEnv("WRENN_API_URL") ?? DEFAULT_API_URL;
    this.apiUrl = normalizeUrl(url);
    this.key = opts.apiKey ?? (readEnv("WRENN_API_KEY") || undefined);
    this.domain = opts.domain ?? (readEnv("WRENN_DOMAIN") || undefined);
    this.requestTimeoutMs = checkMs(
      "requestTimeoutMs",
      opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    );
    this.reconnectTimeoutMs = checkMs(
      "reconnectTimeoutMs",
      opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS,
    );
    this.headers = { ...opts.headers };
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== "function") {
      throw new InvalidArgumentError(
        "no_fetch",
        "this runtime has no fetch; use Node >= 20, Bun or Deno, or pass the fetch option",
      );
    }
    // Bound: some runtimes insist fetch is called on globalThis.
    this.fetch = f.bind(globalThis);
  }

  /** The API key; throws a clear error when none was given. */
  get apiKey(): string {
    if (!this.key) {
      throw new AuthenticationError(
        "missing_api_key",
        "no API key: pass { apiKey } or set WRENN_API_KEY (`wrenn up` prints one; `wrenn keys create` makes more)",
      );
    }
    return this.key;
  }

  /** An AbortSignal that fires at the request timeout and when `signal` does. */
  requestSignal(signal?: AbortSignal, timeoutMs = this.requestTimeoutMs): AbortSignal | undefined {
    const signals: AbortSignal[] = [];
    if (signal) signals.push(signal);
    if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
    if (signals.length === 0) return undefined;
    if (signals.length === 1) return signals[0];
    return AbortSignal.any(signals);
  }
}

function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(
      "invalid_api_url",
      `the API URL ${JSON.stringify(url)} is not a URL (expected e.g. http://127.0.0.1:3000)`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidArgumentError(
      "invalid_api_url",
      `the API URL must be http:// or https://, got ${JSON.stringify(url)}`,
    );
  }
  return parsed.toString().replace(/\/+$/, "");
}

function checkMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      "invalid_option",
      `${name} must be a number of milliseconds >= 0`,
    );
  }
  return value;
}
