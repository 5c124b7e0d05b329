import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess, freePort } from "../harness/agent-process.js";
import { FakeInternet } from "../harness/fake-internet.js";
import { agentMain, templatesDir } from "../harness/paths.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

/**
 * Starts another wrenn-agent that is expected to refuse: waits for it to exit (it must not
 * come up) and returns its exit code and output. Killed if it is still running after a minute.
 */
async function startRefused(
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [agentMain, "serve"], {
    env: {
      ...process.env,
      WRENN_TEMPLATES_DIR: templatesDir,
      WRENN_POOL_SIZE: "0",
      WRENN_AGENT_LISTEN: `127.0.0.1:${await freePort()}`,
      WRENN_AGENT_EXIT_WITH_PARENT: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearTimeout(timer);
  return { code, output };
}

describe("host agent: a second agent never touches the first one's sandboxes", () => {
  let first: AgentProcess;
  const internet = new FakeInternet("wtest-inet2", [], 71);
  const running = "sb-00000f01";
  const paused = "sb-00000f02";
  const online = "sb-00000f03";
  const otherDirs: string[] = [];

  /** The first agent's sandboxes, all intact: states, exec, resume, egress. */
  async function expectFirstIntact(): Promise<void> {
    const { sandboxes } = await first.client.listSandboxes({});
    expect(sandboxes.map((s) => [s.sandboxId, s.state]).sort()).toEqual([
      [running, SandboxState.RUNNING],
      [paused, SandboxState.PAUSED],
      [online, SandboxState.RUNNING],
    ]);
    expect((await execInSandbox(first.url, running, "cat ~/mark")).stdout).toBe("running\n");
    const r = await execInSandbox(
      first.url,
      online,
      `timeout 3 bash -c 'exec 3<>/dev/tcp/${internet.serverIp}/${internet.port}' 2>/dev/null && echo open || echo closed`,
    );
    expect(r.stdout).toBe("open\n");
  }

  async function otherDataDir(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "wrenn-agent-second-"));
    otherDirs.push(dir);
    return dir;
  }

  beforeAll(async () => {
    await internet.start();
    first = await AgentProcess.start({ poolSize: 0 });
    await first.client.createSandbox({ sandboxId: running, template: "base" });
    await first.client.createSandbox({ sandboxId: paused, template: "base" });
    await first.client.createSandbox({
      sandboxId: online,
      template: "base",
      network: { allowInternet: true },
    });
    await execInSandbox(first.url, running, "echo running > ~/mark");
    await execInSandbox(first.url, paused, "echo paused > ~/mark");
    await first.client.pauseSandbox({ sandboxId: paused });
  });
  afterAll(async () => {
    await first?.dispose();
    internet.stop();
    await Promise.all(otherDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("a second agent on the same data dir refuses to start, naming the running one", async () => {
    // Everything else the same too: the data dir is what it must notice first.
    const { code, output } = await startRefused({
      WRENN_AGENT_DATA_DIR: first.dataDir,
      WRENN_NETWORK_POOL: first.networkPool,
      WRENN_NETWORK_PREFIX: first.networkPrefix,
      WRENN_NETWORK_TABLE: first.networkTable,
    });
    expect(code).not.toBe(0);
    expect(output).toContain(`data directory ${first.dataDir} is in use by process`);
    expect(output).toContain(`process ${first.child!.pid} (listen ${new URL(first.url).host}`);
    await expectFirstIntact();
  });

  it("a second agent with an overlapping pool, prefix or table refuses to start", async () => {
    // [overlap, refusal, whether only the first agent can be the one named: a wide pool or a
    // short prefix may also overlap other test agents alive on this machine]
    const cases: [Record<string, string>, RegExp, boolean][] = [
      // The same pool, and one that contains it.
      [{ WRENN_NETWORK_POOL: first.networkPool }, /network pool .* overlaps/, true],
      [{ WRENN_NETWORK_POOL: "10.0.0.0/8" }, /network pool 10\.0\.0\.0\/8 overlaps/, false],
      // A prefix of the first one's prefix would match its interfaces.
      [{ WRENN_NETWORK_PREFIX: first.networkPrefix }, /name prefix .* overlaps/, true],
      [{ WRENN_NETWORK_PREFIX: first.networkPrefix.slice(0, 2) }, /name prefix .* overlaps/, false],
      [{ WRENN_NETWORK_TABLE: first.networkTable }, /nftables table .* is used/, true],
      [{ WRENN_NETWORK_TABLE: `${first.networkTable}_guard` }, /nftables table .* is used/, true],
    ];
    for (const [overlap, message, namesFirst] of cases) {
      const { code, output } = await startRefused({
        WRENN_AGENT_DATA_DIR: await otherDataDir(),
        // Distinct from the first agent's unless the case overrides it.
        WRENN_NETWORK_POOL: "10.223.252.0/22",
        WRENN_NETWORK_PREFIX: "wx2nd-",
        WRENN_NETWORK_TABLE: "wrenn_test_second",
        ...overlap,
      });
      expect(code, JSON.stringify(overlap)).not.toBe(0);
      expect(output, JSON.stringify(overlap)).toMatch(message);
      if (namesFirst) expect(output).toContain(`process ${first.child!.pid}`);
    }
    await expectFirstIntact();
    await first.client.resumeSandbox({ sandboxId: paused });
    expect((await execInSandbox(first.url, paused, "cat ~/mark")).stdout).toBe("paused\n");
  });
});
