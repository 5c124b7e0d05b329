// Starts a control plane on a fresh database next to a fake host agent, for API tests.
import { Writable } from "node:stream";
import { pino } from "pino";
import type { ControlPlaneConfig } from "../config/config.js";
import { type ControlPlane, startControlPlane } from "../control-plane.js";
import type { SecretResolver } from "../service/secret-resolver.js";
import { FakeHostAgent, type FakeHostAgentOptions } from "./fake-host-agent.js";
import type { DatabaseTarget } from "./test-databases.js";

export const TEST_ADMIN_KEY = "wrn_testadminkey00000000000000000000";

export interface TestStack {
  cp: ControlPlane;
  agent: FakeHostAgent;
  config: ControlPlaneConfig;
  /** fetch against the control plane with a key (admin by default). */
  call(
    method: string,
    path: string,
    options?: { key?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    headers: Headers;
    body: unknown;
    text: string;
  }>;
  /** Restarts the control plane on the same database, agent and data directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestStack(
  target: DatabaseTarget,
  options: {
    agent?: FakeHostAgentOptions;
    agentToken?: string;
    config?: Partial<ControlPlaneConfig>;
    secrets?: SecretResolver;
  } = {},
): Promise<TestStack> {
  const agent = new FakeHostAgent({ ...options.agent, token: options.agentToken });
  await agent.start();
  const config: ControlPlaneConfig = {
    host: "127.0.0.1",
    port: 0,
    dataDir: target.dataDir,
    databaseUrl: target.databaseUrl,
    apiKey: TEST_ADMIN_KEY,
    agentUrl: agent.url,
    agentToken: options.agentToken,
    logLevel: "silent",
    lifecycleIntervalMs: 1000,
    hostMonitorIntervalMs: 5000,
    failedCreateVisibleSeconds: 600,
    backgroundLoops: false,
    ...options.config,
  };
  const logger = pino({ level: process.env.WRENN_TEST_LOG ?? "silent" });
  const stack: TestStack = {
    cp: await startControlPlane(config, {
      logger,
      ...(options.secrets ? { secrets: options.secrets } : {}),
    }),
    agent,
    config,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const key = o.key === undefined ? TEST_ADMIN_KEY : o.key;
      if (key !== null) headers["x-api-key"] = key;
      let body: string | undefined;
      if (o.body !== undefined) {
        headers["content-type"] ??= "application/json";
        body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      }
      const response = await fetch(`${stack.cp.url}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    async restart() {
      await stack.cp.close();
      stack.cp = await startControlPlane(config, { logger });
    },
    async close() {
      await stack.cp.close();
      await agent.stop();
    },
  };
  return stack;
}

/**
 * Swaps the stack's control plane for one that logs everything (trace level) into the returned
 * array: for tests that check what never reaches the log (keys, secrets' values).
 */
export async function captureLogs(stack: TestStack): Promise<string[]> {
  const lines: string[] = [];
  await stack.cp.close();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  stack.cp = await startControlPlane(stack.config, { logger: pino({ level: "trace" }, sink) });
  return lines;
}
