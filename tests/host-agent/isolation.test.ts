import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { FakeInternet } from "../harness/fake-internet.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

/** Inside the sandbox: "open" when a TCP connection to ip:port succeeds within 3 s. */
async function probe(agent: AgentProcess, id: string, ip: string, port: number): Promise<string> {
  const r = await execInSandbox(
    agent.url,
    id,
    `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`,
  );
  return r.stdout.trim();
}

function gatewayOf(address: string): string {
  const parts = address.split(".").map(Number);
  parts[3] = (parts[3] ?? 0) - 1;
  return parts.join(".");
}

describe("host agent: sandboxes are isolated", () => {
  let agent: AgentProcess;
  let hostServer: net.Server;
  let hostPort = 0;
  const internet = new FakeInternet();
  const a = "sb-00000d01";
  const b = "sb-00000d02";
  const online = "sb-00000d03";
  let addrA = "";
  let addrB = "";

  beforeAll(async () => {
    agent = await AgentProcess.start({
      poolSize: 0,
      env: { WRENN_SANDBOX_DNS: internet.serverIp },
    });
    hostServer = net.createServer((s) => s.end("host\n"));
    await new Promise<void>((r) => hostServer.listen(0, "0.0.0.0", r));
    hostPort = (hostServer.address() as net.AddressInfo).port;
    await internet.start();
    addrA = (await agent.client.createSandbox({ sandboxId: a, template: "base" })).sandbox!.address;
    addrB = (await agent.client.createSandbox({ sandboxId: b, template: "base" })).sandbox!.address;
    await agent.client.createSandbox({
      sandboxId: online,
      template: "base",
      network: { allowInternet: true },
    });
  });
  afterAll(async () => {
    await agent?.dispose();
    internet.stop();
    hostServer?.close();
  });

  it("the host can reach the sandbox (the agent's own path)", async () => {
    const res = await fetch(`http://${addrA}:49983/health`);
    expect(res.status).toBe(204);
  });

  it("cannot reach services on the host, nor the agent's API", async () => {
    // Positive control: the same server answers from the host itself.
    const control = await new Promise<string>((resolve) =>
      net.connect(hostPort, "127.0.0.1").on("data", (d) => resolve(d.toString())),
    );
    expect(control).toBe("host\n");
    expect(await probe(agent, a, gatewayOf(addrA), hostPort)).toBe("closed");
    expect(await probe(agent, a, "127.0.0.1", hostPort)).toBe("closed");
    const agentPort = Number(new URL(agent.url).port);
    expect(await probe(agent, a, gatewayOf(addrA), agentPort)).toBe("closed");
  });

  it("cannot reach another sandbox", async () => {
    expect(await probe(agent, a, addrB, 49983)).toBe("closed");
    expect(await probe(agent, b, addrA, 49983)).toBe("closed");
  });

  it("has no egress by default, and egress only when allowed", async () => {
    expect(await probe(agent, a, internet.serverIp, internet.port)).toBe("closed");
    expect(await probe(agent, online, internet.serverIp, internet.port)).toBe("open");
    // Even with egress, the host and other sandboxes stay out of reach.
    const addrOnline = (await agent.client.getSandbox({ sandboxId: online })).sandbox!.address;
    expect(await probe(agent, online, gatewayOf(addrOnline), hostPort)).toBe("closed");
    expect(await probe(agent, online, addrA, 49983)).toBe("closed");
  });

  it("gets a name server only with internet access, and it answers", async () => {
    expect((await execInSandbox(agent.url, a, "cat /etc/resolv.conf")).stdout).toBe("");
    expect((await execInSandbox(agent.url, online, "cat /etc/resolv.conf")).stdout).toBe(
      `nameserver ${internet.serverIp}\n`,
    );
    const r = await execInSandbox(
      agent.url,
      online,
      "getent ahostsv4 wrenn-test.example | head -1",
    );
    expect(r.stdout).toMatch(new RegExp(`^${internet.serverIp.replace(/\./g, "\\.")}\\s`));
  });

  it("cannot see the host's files or processes", async () => {
    const marker = `/tmp/wrenn-host-marker-${randomBytes(4).toString("hex")}`;
    await writeFile(marker, "secret");
    try {
      const r = await execInSandbox(
        agent.url,
        a,
        `test -e ${marker} && echo visible || echo hidden`,
      );
      expect(r.stdout).toBe("hidden\n");
    } finally {
      await rm(marker, { force: true });
    }
    const ps = await execInSandbox(agent.url, a, "ps -eo args");
    expect(ps.exitCode).toBe(0);
    expect(ps.stdout).toContain("envd.mjs");
    expect(ps.stdout).not.toContain("main.js serve");
    expect(ps.stdout).not.toContain("vitest");
    const host = await execInSandbox(agent.url, a, "hostname; cat /proc/1/cmdline | tr '\\0' ' '");
    expect(host.stdout).toMatch(/^sandbox\n\/usr\/bin\/tini/);
  });
});
