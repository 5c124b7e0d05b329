import type { TestProject } from "vitest/node";
import type {} from "../../apps/envd/src/testing/sandbox-world.js";
import { AgentProcess } from "../harness/agent-process.js";
import buildBaseTemplate from "../harness/global-setup.js";

/**
 * For the envd suites in gVisor mode (project `envd-gvisor`): the base template, and one real
 * wrenn-agent for the whole run. Each test file creates its own sandbox on it (beforeAll) and
 * destroys it (afterAll); dispose() removes whatever is left.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildBaseTemplate();
  const agent = await AgentProcess.start({ poolSize: 0 });
  project.provide("envdGvisorAgent", { url: agent.url, dataDir: agent.dataDir });
  return async () => {
    await agent.dispose();
  };
}
