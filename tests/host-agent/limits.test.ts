import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

/** Each abuse runs in one sandbox while a witness sandbox and the agent must carry on. */
describe("host agent: limits contain abuse", () => {
  let agent: AgentProcess;
  const witness = "sb-00000c00";
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 0 });
    await agent.client.createSandbox({ sandboxId: witness, template: "base" });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  async function othersCarryOn(): Promise<void> {
    const r = await execInSandbox(agent.url, witness, "echo alive");
    expect(r.stdout).toBe("alive\n");
    const status = await agent.client.hostStatus({});
    expect(status.hostId).toMatch(/^host-/);
  }

  /** Runs `command` in one sandbox while the witness is asked to answer every second. */
  async function besideAWitness<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T; pings: string[] }> {
    const pings: string[] = [];
    let done = false;
    const pinging = (async () => {
      while (!done) {
        const r = await execInSandbox(agent.url, witness, "echo alive").catch((err: Error) => ({
          stdout: `failed: ${err.message}`,
        }));
        pings.push(r.stdout);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    try {
      return { result: await work(), pings };
    } finally {
      done = true;
      await pinging;
    }
  }

  // Each tries to hold 2 GiB, eight times the sandbox's memory, touching every page. envd's
  // OOM guard kills the hog alone: its command ends by SIGKILL, the sandbox answers next.
  it.each([
    [
      "a Python hog",
      "sb-00000c01",
      'python3 -c \'a=[]\nfor _ in range(128): a.append(b"\\x01"*(16<<20))\nprint("allocated")\'',
    ],
    [
      "a Node hog",
      "sb-00000c05",
      "node -e 'const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(32 << 20, 1)); console.log(\"allocated\")'",
    ],
  ])(
    "contains %s: the hog alone dies, the sandbox and the witness answer",
    async (_name, id, command) => {
      await agent.client.createSandbox({
        sandboxId: id,
        template: "base",
        resources: { memoryMb: 256 },
      });
      const { result: hog, pings } = await besideAWitness(() =>
        execInSandbox(agent.url, id, command, { timeoutMs: 180_000 }),
      );
      expect(hog.stdout).not.toContain("allocated");
      // As E2B's envd reports a process the kernel's OOM killer ended.
      expect(hog).toMatchObject({ exitCode: -1, status: "signal: killed" });
      expect((await agent.client.getSandbox({ sandboxId: id })).sandbox?.state).toBe(
        SandboxState.RUNNING,
      );
      expect((await execInSandbox(agent.url, id, "echo still here")).stdout).toBe("still here\n");
      expect(pings.length).toBeGreaterThan(0);
      expect(pings.filter((p) => p !== "alive\n")).toEqual([]);
      await othersCarryOn();
      await agent.client.destroySandbox({ sandboxId: id });
    },
  );

  // A fork bomb and a disk filler are contained the same way through the whole stack, where
  // the sandbox's state must also say which limit it hit: tests/e2e-stack/honest-state.test.ts.

  it("limits CPU to the sandbox's vcpus", async () => {
    const id = "sb-00000c04";
    await agent.client.createSandbox({ sandboxId: id, template: "base", resources: { vcpus: 1 } });
    // Two busy loops; with one vcpu the sandbox cannot use more than one core.
    await execInSandbox(
      agent.url,
      id,
      // Output redirected, or the loops would hold the command's stream open until they end.
      "for i in 1 2; do (timeout 5 sh -c 'while :; do :; done' >/dev/null 2>&1 &) ; done; sleep 1",
    );
    await agent.client.getSandboxStats({ sandboxId: id });
    await new Promise((r) => setTimeout(r, 2000));
    const { stats } = await agent.client.getSandboxStats({ sandboxId: id });
    expect(stats?.cpuCount).toBe(1);
    // Two busy loops on a host with two cores would read about 200 without the quota.
    expect(stats?.cpuUsedPct).toBeGreaterThan(50);
    expect(stats?.cpuUsedPct).toBeLessThan(125);
    await agent.client.destroySandbox({ sandboxId: id });
  });
});
