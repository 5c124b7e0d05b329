import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { FakeInternet } from "../harness/fake-internet.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

/** Inside the sandbox: "open" when a TCP connection to ip:port succeeds within 3 s. */
async function probe(agent: AgentProcess, id: string, ip: string, port: number): Promise<string> {
  const r = await execInSandbox(
    agent.url,
    id,
    `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`,
  );
  return r.stdout.trim();
}

/**
 * Inside the sandbox, for `seconds`: tries every target again and again (0.5 s each) and
 * prints "open <target>" for any that ever answers.
 */
async function probeRepeatedly(
  agent: AgentProcess,
  id: string,
  targets: readonly string[],
  seconds: number,
): Promise<string> {
  const tries = targets
    .map((t) => {
      const [ip, port] = t.split(":");
      return `timeout 0.5 bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>/dev/null && echo "open ${t}"`;
    })
    .join("; ");
  const r = await execInSandbox(
    agent.url,
    id,
    `end=$((SECONDS+${seconds})); while [ $SECONDS -lt $end ]; do ${tries}; done; echo done`,
    { timeoutMs: (seconds + 60) * 1000 },
  );
  return r.stdout;
}

/** The host's primary address (not loopback, not a test or sandbox interface). */
function hostAddress(): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (/^(wt|we|ws|wrenn)/.test(name)) continue;
    const v4 = addrs?.find((x) => x.family === "IPv4" && !x.internal);
    if (v4) return v4.address;
  }
  throw new Error("no non-loopback IPv4 address on this host");
}

function nftTables(): string {
  return execFileSync("nft", ["list", "tables"], { encoding: "utf8" });
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
  /** Who connected to the host's listener: any sandbox address here is an escape. */
  const hostConnections: string[] = [];
  // "Networks around the host", all inside the fake internet's namespace (routed there by /32
  // routes), so a broken rule can only ever reach this test's own namespace.
  const privateNet = "172.31.250.2"; // RFC 1918
  const cgnat = "100.64.250.2"; // carrier-grade NAT
  const linkLocal = "169.254.250.2"; // link-local, like cloud metadata
  const privateDns = "172.31.250.53"; // a name server on a private address (as in most clouds)
  const opened = "192.168.250.2"; // RFC 1918, but opened by the admin
  const internet = new FakeInternet("wtest-inet", [
    privateNet,
    cgnat,
    linkLocal,
    privateDns,
    opened,
  ]);
  const a = "sb-00000d01";
  const b = "sb-00000d02";
  const online = "sb-00000d03";
  let addrA = "";
  let addrB = "";

  beforeAll(async () => {
    agent = await AgentProcess.start({
      poolSize: 0,
      env: { WRENN_SANDBOX_DNS: privateDns, WRENN_EGRESS_ALLOW_CIDRS: "192.168.250.0/24" },
    });
    hostServer = net.createServer((s) => {
      hostConnections.push(s.remoteAddress ?? "");
      s.end("host\n");
    });
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
    // The name server sits on a private address: port 53 on it is open, nothing else.
    expect((await execInSandbox(agent.url, online, "cat /etc/resolv.conf")).stdout).toBe(
      `nameserver ${privateDns}\n`,
    );
    expect(await probe(agent, online, privateDns, internet.port)).toBe("closed");
    const r = await execInSandbox(
      agent.url,
      online,
      "getent ahostsv4 wrenn-test.example | head -1",
    );
    expect(r.stdout).toMatch(new RegExp(`^${internet.serverIp.replace(/\./g, "\\.")}\\s`));
  });

  it("with internet, reaches the internet but no private network, CGNAT, link-local or host address", async () => {
    // Positive controls: the fake internet, and a private range the admin opened.
    expect(await probe(agent, online, internet.serverIp, internet.port)).toBe("open");
    expect(await probe(agent, online, opened, internet.port)).toBe("open");
    const agentPort = Number(new URL(agent.url).port);
    const addrOnline = (await agent.client.getSandbox({ sandboxId: online })).sandbox!.address;
    const closed: [string, number][] = [
      [privateNet, internet.port],
      [cgnat, internet.port],
      [linkLocal, internet.port],
      [hostAddress(), hostPort],
      [hostAddress(), agentPort],
      [gatewayOf(addrOnline), agentPort],
      ["127.0.0.1", agentPort],
      [addrA, 49983],
    ];
    for (const [ip, port] of closed) {
      expect(`${ip}:${port} ${await probe(agent, online, ip, port)}`).toBe(`${ip}:${port} closed`);
    }
    // The same neighbours answer the host: what stops the sandbox is the policy, not the path.
    for (const ip of [privateNet, cgnat, linkLocal]) {
      const greeting = await new Promise<string>((resolve, reject) =>
        net
          .connect(internet.port, ip)
          .on("data", (d) => resolve(d.toString()))
          .on("error", reject),
      );
      expect(greeting).toBe("hi\n");
    }
  });

  it("fails closed: with the agent's table (or its guard) deleted, no sandbox gets anywhere it may not", async () => {
    const addrOnline = (await agent.client.getSandbox({ sandboxId: online })).sandbox!.address;
    const before = hostConnections.length;
    for (const table of [agent.networkTable, `${agent.networkTable}_guard`]) {
      execFileSync("nft", ["delete", "table", "inet", table]);
      // Longer than the agent's repair interval (5 s): the whole window until it rebuilds.
      const [fromA, fromOnline] = await Promise.all([
        probeRepeatedly(
          agent,
          a,
          [
            `${gatewayOf(addrA)}:${hostPort}`,
            `${hostAddress()}:${hostPort}`,
            `${addrB}:49983`,
            `${internet.serverIp}:${internet.port}`,
          ],
          7,
        ),
        probeRepeatedly(
          agent,
          online,
          [`${gatewayOf(addrOnline)}:${hostPort}`, `${privateNet}:${internet.port}`],
          7,
        ),
      ]);
      expect(fromA).toBe("done\n");
      expect(fromOnline).toBe("done\n");
      expect(hostConnections.slice(before)).toEqual([]);
      // The agent notices and puts the table back; egress works again.
      await waitFor(() => nftTables().includes(`inet ${table}\n`), 30_000);
    }
    await waitFor(
      async () => (await probe(agent, online, internet.serverIp, internet.port)) === "open",
      30_000,
    );
  });

  it("fails closed when both tables go at once (what `nft flush ruleset` does to them)", async () => {
    // The operator's `nft flush ruleset` removes the agent's table and its guard together; a
    // real flush here would also remove every other stack's rules on this shared machine, so
    // the test deletes exactly the two tables of its own agent, in one transaction, as the
    // flush does. What must hold then is the backstop inside each sandbox's own namespace.
    const addrOnline = (await agent.client.getSandbox({ sandboxId: online })).sandbox!.address;
    const before = hostConnections.length;
    const t = agent.networkTable;
    execFileSync("nft", ["-f", "-"], {
      input: `delete table inet ${t}\ndelete table inet ${t}_guard\n`,
    });
    const [fromA, fromOnline, health] = await Promise.all([
      probeRepeatedly(
        agent,
        a,
        [
          // A public address: a has no egress, and forwarding stays on for the online one
          // (the fake internet routes the pool back, so without masquerade it would answer).
          // First, so it is tried before the periodic check restores the tables.
          `${internet.serverIp}:${internet.port}`,
          `${gatewayOf(addrA)}:${hostPort}`,
          `${hostAddress()}:${hostPort}`,
          `${addrB}:49983`,
          `${privateNet}:${internet.port}`,
        ],
        7,
      ),
      probeRepeatedly(
        agent,
        online,
        [
          `${gatewayOf(addrOnline)}:${hostPort}`,
          `${hostAddress()}:${hostPort}`,
          `${privateNet}:${internet.port}`,
          `${cgnat}:${internet.port}`,
          `${addrA}:49983`,
        ],
        7,
      ),
      // The agent's own path into a sandbox keeps working throughout (replies pass).
      fetch(`http://${addrA}:49983/health`).then((r) => r.status),
    ]);
    expect(fromA).toBe("done\n");
    expect(fromOnline).toBe("done\n");
    expect(health).toBe(204);
    expect(hostConnections.slice(before)).toEqual([]);
    await waitFor(() => nftTables().includes(`inet ${t}\n`), 30_000);
    await waitFor(() => nftTables().includes(`inet ${t}_guard\n`), 30_000);
    await waitFor(
      async () => (await probe(agent, online, internet.serverIp, internet.port)) === "open",
      30_000,
    );
    // The admin's opened range is let through by the backstop too.
    expect(await probe(agent, online, opened, internet.port)).toBe("open");
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

  it("a clean stop with no sandbox left leaves no table, guard, claim or lock behind", async () => {
    const { sandboxes } = await agent.client.listSandboxes({});
    for (const sb of sandboxes) await agent.client.destroySandbox({ sandboxId: sb.sandboxId });
    expect(nftTables()).toContain(`inet ${agent.networkTable}_guard\n`);
    await agent.stop();
    expect(agent.child?.exitCode).toBe(0);
    const tables = nftTables();
    expect(tables).not.toContain(`inet ${agent.networkTable}\n`);
    expect(tables).not.toContain(`inet ${agent.networkTable}_guard\n`);
    expect(existsSync(`/run/wrenn/agents/${agent.networkTable}.claim`)).toBe(false);
    expect(existsSync(`${agent.dataDir}/wrenn-agent.lock`)).toBe(false);
  });
});
