// Starts a control plane on a fresh database next to a fake host agent, for API tests.
import { Writable } from "node:stream";
import { pino } from "pino";
import type { ControlPlaneConfig } from "../config/config.js";
import { type ControlPlane, startControlPlane } from "../control-plane.js";
import type { SecretResolver } from "../service/secret-resolver.js";
import { type ApiCallOptions, type ApiCallResult, callApi, TEST_ADMIN_KEY } from "./api-call.js";
import { FakeHostAgent, type FakeHostAgentOptions } from "./fake-host-agent.js";
import type { DatabaseTarget } from "./test-databases.js";

export { TEST_ADMIN_KEY };

export interface TestStack {
  cp: ControlPlane;
  agent: FakeHostAgent;
  config: ControlPlaneConfig;
  /** fetch against the control plane with a key (admin by default). */
  call(method: string, path: string, options?: ApiCallOptions): Promise<ApiCallResult>;
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
    call: (method, path, o) => callApi(stack.cp.url, method, path, o),
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
