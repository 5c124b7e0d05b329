import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { hostFootprint } from "../harness/host-leaks.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

/**
 * The agent's footprint once it has settled: work it does by itself (checkpointing a template
 * for this runsc boots one sandbox for a while) comes and goes; what stays is what it keeps.
 * Within a bound, so a real leak still fails.
 */
async function settledFootprint(
  agent: AgentProcess,
  expectedSandboxes: number,
): Promise<ReturnType<typeof hostFootprint>> {
  let footprint = hostFootprint(agent.dataDir, agent.networkPrefix);
  let previous = "";
  await waitFor(
    () => {
      footprint = hostFootprint(agent.dataDir, agent.networkPrefix);
      // Every part at its count (a sandbox being set up has its mounts and namespace before
      // its link), and the same on two polls running, so a set-up in flight is not taken.
      const now = JSON.stringify(footprint);
      const stable = now === previous;
      previous = now;
      return (
        stable &&
        footprint.netns.length === expectedSandboxes &&
        footprint.links.length === expectedSandboxes &&
        footprint.mounts.length === 2 * expectedSandboxes
      );
    },
    120_000,
    `the agent's footprint to be its ${expectedSandboxes} sandboxes'`,
  ).catch(() => undefined);
  return footprint;
}

describe("host agent: a kill -9 loses nothing and leaks nothing", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("adopts running and paused sandboxes after kill -9, and they answer", async () => {
    await agent.client.createSandbox({
      sandboxId: "sb-00000e01",
      template: "base",
      envdAccessToken: "t1",
    });
    await agent.client.createSandbox({ sandboxId: "sb-00000e02", template: "base" });
    await execInSandbox(agent.url, "sb-00000e01", "echo one > ~/one", { token: "t1" });
    await execInSandbox(agent.url, "sb-00000e02", "echo two > ~/two");
    await agent.client.pauseSandbox({ sandboxId: "sb-00000e02" });
    await agent.kill9();
    await agent.launch();
    const { sandboxes } = await agent.client.listSandboxes({});
    expect(sandboxes.map((s) => [s.sandboxId, s.state]).sort()).toEqual([
      ["sb-00000e01", SandboxState.RUNNING],
      ["sb-00000e02", SandboxState.PAUSED],
    ]);
    expect(
      (await execInSandbox(agent.url, "sb-00000e01", "cat ~/one", { token: "t1" })).stdout,
    ).toBe("one\n");
    await agent.client.resumeSandbox({ sandboxId: "sb-00000e02" });
    expect((await execInSandbox(agent.url, "sb-00000e02", "cat ~/two")).stdout).toBe("two\n");
  });

  it("cleans a create that a kill -9 interrupted, leaving only the sandboxes it kept", async () => {
    const before = await settledFootprint(agent, 2);
    const pending = agent.client
      .createSandbox({ sandboxId: "sb-00000e03", template: "base" })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 250));
    await agent.kill9();
    await pending;
    await agent.launch();
    const { sandboxes } = await agent.client.listSandboxes({});
    expect(sandboxes.map((s) => s.sandboxId).sort()).toEqual(["sb-00000e01", "sb-00000e02"]);
    expect(await settledFootprint(agent, 2)).toEqual(before);
  });

  it("leaves nothing behind once every sandbox is destroyed", async () => {
    for (const id of ["sb-00000e01", "sb-00000e02"])
      await agent.client.destroySandbox({ sandboxId: id });
    expect(await settledFootprint(agent, 0)).toEqual({
      netns: [],
      links: [],
      mounts: [],
      processes: [],
    });
  });
});
