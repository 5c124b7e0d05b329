import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

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

  it("contains a memory hog", async () => {
    const id = "sb-00000c01";
    await agent.client.createSandbox({
      sandboxId: id,
      template: "base",
      resources: { memoryMb: 256 },
    });
    // Tries to hold 2 GiB, eight times the limit.
    const hog = await execInSandbox(
      agent.url,
      id,
      "python3 -c 'a=[]\nfor _ in range(128): a.append(bytearray(16<<20))\nprint(\"allocated\")'",
      { timeoutMs: 120_000 },
    ).catch((err: Error) => ({ stdout: "", stderr: err.message, exitCode: -1 }));
    expect(hog.stdout).not.toContain("allocated");
    expect(hog.exitCode).not.toBe(0);
    // Either the hog alone was killed, or the whole sandbox was, and the agent knows which.
    const state = (await agent.client.getSandbox({ sandboxId: id })).sandbox?.state;
    if (state === SandboxState.RUNNING) {
      expect((await execInSandbox(agent.url, id, "echo still here")).stdout).toBe("still here\n");
    } else {
      await waitFor(
        async () =>
          (await agent.client.getSandbox({ sandboxId: id })).sandbox?.state === SandboxState.ERROR,
        15_000,
        "the dead sandbox to be marked as failed",
      );
    }
    await othersCarryOn();
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("contains a fork bomb", async () => {
    const id = "sb-00000c02";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await execInSandbox(agent.url, id, "bomb() { bomb | bomb & }; bomb; sleep 5", {
      timeoutMs: 30_000,
    }).catch(() => undefined);
    await othersCarryOn();
    await agent.client.destroySandbox({ sandboxId: id });
    await othersCarryOn();
  });

  it("stops a disk filler at disk_mb", async () => {
    const id = "sb-00000c03";
    await agent.client.createSandbox({
      sandboxId: id,
      template: "base",
      resources: { diskMb: 512 },
    });
    const fill = await execInSandbox(
      agent.url,
      id,
      "dd if=/dev/zero of=~/big bs=1M count=2048 2>&1; sync; du -m ~/big | cut -f1",
      { timeoutMs: 120_000 },
    );
    expect(fill.stdout).toMatch(/No space left on device/);
    const usedMb = Number(fill.stdout.trim().split("\n").pop());
    expect(usedMb).toBeGreaterThan(300);
    expect(usedMb).toBeLessThanOrEqual(512);
    const stats = await agent.client.getSandboxStats({ sandboxId: id });
    expect(Number(stats.stats?.diskTotalBytes)).toBeLessThanOrEqual(512 * 2 ** 20);
    await othersCarryOn();
    // Freeing space makes the disk usable again.
    const again = await execInSandbox(
      agent.url,
      id,
      "rm ~/big && echo ok > ~/small && cat ~/small",
    );
    expect(again.stdout).toBe("ok\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("limits CPU to the sandbox's vcpus", async () => {
    const id = "sb-00000c04";
    await agent.client.createSandbox({ sandboxId: id, template: "base", resources: { vcpus: 1 } });
    // Two busy loops; with one vcpu the sandbox cannot use more than one core.
    await execInSandbox(
      agent.url,
      id,
      // Output redirected, or the loops would hold the command's stream open until they end.
      "for i in 1 2; do (timeout 8 sh -c 'while :; do :; done' >/dev/null 2>&1 &) ; done; sleep 1",
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
