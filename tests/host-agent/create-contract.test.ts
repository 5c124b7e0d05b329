import { runAgentCreateCases, tableMismatches } from "@wrenn/contract/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";

// The same table runs against the control plane's fake agent
// (apps/control-plane/src/testing/fake-host-agent.test.ts): together they prove the fake accepts
// exactly what wrenn-agent accepts.
describe("host agent: the shared create table", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    // No WRENN_MOUNT_ROOTS, like the fake: well-formed mounts are refused as not allowed.
    agent = await AgentProcess.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("accepts and refuses each create as the table says, with the contract's codes", async () => {
    let next = 0;
    const results = await runAgentCreateCases(
      (request) => agent.client.createSandbox({ ...request, envdAccessToken: "t".repeat(32) }),
      () => `sb-0c${(next++).toString(16).padStart(6, "0")}`,
    );
    try {
      expect(tableMismatches(results)).toEqual([]);
      // The agent keeps the request as checked: base for no template, blanks trimmed.
      const limits = (await agent.client.getSandbox({ sandboxId: results[1]!.sandboxId })).sandbox;
      expect(limits?.template).toBe("base");
      expect(limits?.resources).toMatchObject({ vcpus: 2, memoryMb: 768, diskMb: 1024 });
    } finally {
      for (const r of results) {
        if (r.outcome.accepted) await agent.client.destroySandbox({ sandboxId: r.sandboxId });
      }
    }
  });
});
