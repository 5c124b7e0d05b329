import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import type { ControlPlane, ControlPlaneConfig } from "@wrenn/control-plane";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";
import { Agent, fetch as undiciFetch } from "undici";
import { expect } from "vitest";
import { type AgentOptions, AgentProcess, freePort } from "./agent-process.js";
import { waitFor } from "./wait.js";

/** What the admin API answered: status, raw text (for failure messages) and parsed JSON. */
export interface AdminAnswer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: each test reads the fields it asserts on.
  body: any;
}

/** The fields of a GET /v1/hosts row that fleet tests read. */
export interface HostRow {
  id: string;
  kind: string;
  status: string;
  url: string;
  capacity: { total: { memoryMb: number }; used: { memoryMb: number } } | null;
}

/**
 * The admin API of a control plane whose address may change (one restarted on another port):
 * `baseUrl` is read at every call. `ca`: the PEM certificate (read at the first call) trusted,
 * beside the system's, for a control plane on https.
 */
export function adminApi(baseUrl: () => string, ca?: () => string) {
  let dispatcher: Agent | undefined;
  async function call(method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    // No bound on an answer's headers: a fork of ten on a loaded machine takes minutes.
    dispatcher ??= ca
      ? new Agent({ connect: { ca: [...rootCertificates, ca()] }, headersTimeout: 0 })
      : undefined;
    const response = await undiciFetch(`${baseUrl()}${path}`, {
      ...(dispatcher ? { dispatcher } : {}),
      method,
      headers: {
        "x-api-key": TEST_ADMIN_KEY,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text, body: text ? JSON.parse(text) : undefined };
  }
  return {
    call,
    /** GET /v1/hosts's rows, typed as the test reads them. */
    hosts: async <Row>() => ((await call("GET", "/v1/hosts")).body as { hosts: Row[] }).hosts,
  };
}

/**
 * A control plane for registered hosts only: `agentUrl` points where no agent listens, and
 * the lifecycle and host monitor loops run fast. `overrides` for the rest (policy, silence).
 */
export async function fleetConfig(
  dataDir: string,
  overrides: Partial<ControlPlaneConfig>,
): Promise<ControlPlaneConfig> {
  return {
    host: "127.0.0.1",
    port: 0,
    dataDir,
    apiKey: TEST_ADMIN_KEY,
    agentUrl: `http://127.0.0.1:${await freePort()}`,
    logLevel: process.env.WRENN_TEST_LOG ?? "silent",
    lifecycleIntervalMs: 500,
    hostMonitorIntervalMs: 500,
    backgroundLoops: true,
    ...overrides,
  };
}

/** A registration token from the admin API. */
export async function newToken(api: ReturnType<typeof adminApi>): Promise<string> {
  const r = await api.call("POST", "/v1/hosts/tokens", {});
  expect(r.status, r.text).toBe(201);
  return r.body.token as string;
}

/**
 * An agent that joins the control plane at `cpUrl` with `token` (default: a new one), beating
 * every 500 ms; `options.env` adds to its environment. Returns it with the host id it stored.
 */
export async function startRegisteredAgent(
  api: ReturnType<typeof adminApi>,
  cpUrl: string,
  { token, ...options }: AgentOptions & { token?: string } = {},
): Promise<{ agent: AgentProcess; hostId: string }> {
  const agent = await AgentProcess.start({
    poolSize: 0,
    ...options,
    env: {
      WRENN_CONTROL_PLANE_URL: cpUrl,
      WRENN_REGISTRATION_TOKEN: token ?? (await newToken(api)),
      WRENN_HEARTBEAT_INTERVAL_MS: "500",
      ...options.env,
    },
  });
  const stored = JSON.parse(await readFile(join(agent.dataDir, "registration.json"), "utf8"));
  return { agent, hostId: stored.hostId as string };
}

/**
 * A fleet test's teardown: every sandbox not stopped is deleted through the API (its host
 * cleans it up), then the agents, the control plane and the data dir go.
 */
export async function closeFleet(parts: {
  cp?: ControlPlane;
  api: ReturnType<typeof adminApi>;
  agents: readonly AgentProcess[];
  dataDir?: string;
  /** The test's own pieces, closed last (whatever failed before). */
  finally?: () => Promise<void>;
}): Promise<void> {
  try {
    if (parts.cp) {
      const rows = await parts.cp.db.query<{ id: string }>(
        "SELECT id FROM sandboxes WHERE state <> 'stopped'",
      );
      for (const row of rows.rows) await parts.api.call("DELETE", `/v1/sandboxes/${row.id}`);
    }
  } finally {
    try {
      for (const agent of parts.agents) await agent.dispose();
      await parts.cp?.close();
      if (parts.dataDir) await rm(parts.dataDir, { recursive: true, force: true });
    } finally {
      await parts.finally?.();
    }
  }
}

/** Waits (up to `ms`) until `count` registered hosts are online. */
export async function waitRegisteredOnline(
  api: ReturnType<typeof adminApi>,
  count: number,
  ms: number,
): Promise<void> {
  await waitFor(
    async () =>
      (await api.hosts<{ kind: string; status: string }>()).filter(
        (h) => h.kind === "registered" && h.status === "online",
      ).length === count,
    ms,
    `${count} registered hosts online`,
  );
}
