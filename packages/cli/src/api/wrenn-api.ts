// The /v1 routes the SDK has no method for (keys, hosts, a sandbox's events, health): a small
// fetch client that turns {"error":{code,message}} answers into errors with status and code.
import type { CliConfig } from "../config/cli-config.js";
import { requireKey } from "../config/cli-config.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class WrennApi {
  constructor(readonly config: CliConfig) {}

  async request<T>(
    method: string,
    path: string,
    o: { body?: unknown; query?: Record<string, string | number | undefined>; auth?: boolean } = {},
  ): Promise<T> {
    const url = new URL(path, `${this.config.apiUrl}/`);
    for (const [k, v] of Object.entries(o.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: "application/json" };
    if (o.auth !== false) headers["x-api-key"] = requireKey(this.config);
    if (o.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const cause = (error as Error).cause;
      const reason = cause instanceof Error ? cause.message : (error as Error).message;
      const e = new Error(
        `cannot reach the Wrenn API at ${this.config.apiUrl} (${reason}); start it with \`wrenn up\` or set --api-url / WRENN_API_URL`,
      );
      e.name = "ConnectionError";
      throw e;
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        response.status,
        err?.code ?? `http_${response.status}`,
        err?.message ?? `${method} ${url.pathname}: HTTP ${response.status}`,
      );
    }
    return body as T;
  }
}

export interface ApiKeyView {
  id: string;
  ownerId: string;
  ownerName: string;
  name: string;
  role: "admin" | "user";
  pools: { vcpus: number; memoryMb: number; storageMb: number };
  createRatePerMinute: number;
  createdBy: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface HostView {
  id: string;
  url: string;
  status: string;
  hostname: string | null;
  version: string | null;
  runtimes: string[];
  capacity: { total: Capacity; used: Capacity } | null;
  sandboxesByState: Record<string, number>;
  templates: { name: string; version: string; envdVersion: string }[];
  lastSeenAt: string | null;
  lastError: string | null;
}

interface Capacity {
  vcpus: number;
  memoryMb: number;
  diskMb: number;
}

export interface SandboxEventView {
  id: string;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  apiKeyId: string | null;
  durationMs: number | null;
  detail: Record<string, unknown>;
}

export interface SandboxEventPage {
  events: SandboxEventView[];
  nextBefore: string | null;
}
