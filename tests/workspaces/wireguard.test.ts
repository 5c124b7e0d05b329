import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Client, Code } from "@connectrpc/connect";
import { ERROR_CODE_HEADER, WORKSPACE_TUNNEL } from "@wrenn/contract";
import type { ClientConfig, HostService } from "@wrenn/proto/hostd";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";
import { failure, hostdClient } from "./hostd-client.js";

const run = promisify(execFile);
/** Workspaces here are small: the host runs other stacks beside this one. */
const SMALL = { vcpus: 1, memoryMb: 512, diskGb: 2 };
const sh = async (file: string, ...args: string[]) => (await run(file, args)).stdout;
/** A program fed `lines` on stdin (`ip -batch -`, `nft -f -`: one transaction). */
async function pipe(file: string, args: string[], lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(file, args, (error, _out, stderr) =>
      error
        ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`))
        : resolve(),
    );
    child.stdin?.end(`${lines.join("\n")}\n`);
  });
}

// WireGuard into a workspace, against the real stack (real agent, runsc, wireguard-go): a
// "laptop" in a network namespace this test creates, joined to the host by a veth on a /30 of
// its own (198.18.<n>.0/30, the benchmarking range), whose only way to the host is the
// workspace's UDP port (this test's own nft table). Through the tunnel it reaches a TCP server
// in the workspace on 10.10.0.2 and nothing else; the port survives suspend/resume and an
// agent restart; destroy frees it; a host with one port refuses the second workspace.

/** Two free UDP ports next to each other (no other listener now), for this stack alone. */
async function udpRange(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 100; i++) {
    const first = 40000 + 2 * Math.floor(Math.random() * 4000);
    if ((await free(first)) && (await free(first + 1))) return first;
  }
  throw new Error("no two free UDP ports");
}

/** A TCP connect from inside `netns`: the bytes the server sent, or why there were none. */
async function tcpFrom(netns: string, host: string, port: number, ms: number): Promise<string> {
  const client = `
const s = require("net").connect({ host: ${JSON.stringify(host)}, port: ${port} });
let data = "";
const t = setTimeout(() => { process.stdout.write("timeout"); process.exit(0); }, ${ms});
s.on("data", (d) => { data += d; });
s.on("end", () => { clearTimeout(t); process.stdout.write("got:" + data); process.exit(0); });
s.on("error", (e) => { clearTimeout(t); process.stdout.write("error:" + e.code); process.exit(0); });`;
  return sh("ip", "netns", "exec", netns, process.execPath, "-e", client);
}

/** The laptop: its namespace, its veth, wireguard-go with the client config, and its fence. */
class Laptop {
  readonly tag = randomBytes(2).toString("hex");
  readonly netns = `wgl-${this.tag}`;
  readonly hostIf = `wglh${this.tag}`;
  readonly table = `wgtest_${this.tag}`;
  readonly subnet = 100 + Math.floor(Math.random() * 150);
  readonly hostSide = `198.18.${this.subnet}.1`;
  readonly inner = `198.18.${this.subnet}.2`;

  async start(port: number): Promise<void> {
    await this.remove();
    await pipe(
      "ip",
      ["-batch", "-"],
      [
        `netns add ${this.netns}`,
        `link add ${this.hostIf} type veth peer name eth0 netns ${this.netns}`,
        `addr add ${this.hostSide}/30 dev ${this.hostIf}`,
        `link set ${this.hostIf} up`,
      ],
    );
    await pipe(
      "ip",
      ["-n", this.netns, "-batch", "-"],
      [`addr add ${this.inner}/30 dev eth0`, "link set eth0 up", "link set lo up"],
    );
    await this.fence(port);
    // wireguard-go started in the namespace: its tun and its UDP socket are the laptop's.
    await sh("ip", "netns", "exec", this.netns, "wireguard-go", "wg0");
    await sh("ip", "-n", this.netns, "addr", "add", WORKSPACE_TUNNEL.clientCidr, "dev", "wg0");
    await sh("ip", "-n", this.netns, "link", "set", "wg0", "up");
  }

  /** Only the workspace's UDP port of the host is open to the laptop (and nothing is routed). */
  async fence(port: number): Promise<void> {
    const t = `inet ${this.table}`;
    const script = [
      `add table ${t}`,
      `delete table ${t}`,
      `add table ${t}`,
      `add chain ${t} input { type filter hook input priority -10; policy accept; }`,
      `add rule ${t} input iifname "${this.hostIf}" udp dport ${port} accept`,
      `add rule ${t} input iifname "${this.hostIf}" drop`,
      `add chain ${t} forward { type filter hook forward priority -10; policy accept; }`,
      `add rule ${t} forward iifname "${this.hostIf}" drop`,
    ];
    await pipe("nft", ["-f", "-"], script);
  }

  /** The client config, as `wg` takes it, with the endpoint on this laptop's link. */
  async configure(c: ClientConfig, privateKey = c.privateKey): Promise<void> {
    const wg = (...args: string[]) => sh("ip", "netns", "exec", this.netns, "wg", ...args);
    const port = c.endpoint.split(":").at(-1);
    const dir = await mkdtemp(join(tmpdir(), "wgl-"));
    try {
      // `wg` reads keys from files only (never from argv, which every user can read).
      await writeFile(join(dir, "key"), `${privateKey}\n`, { mode: 0o600 });
      await wg("set", "wg0", "private-key", join(dir, "key"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // A new key pair on the other side: the old peer goes, whatever it was.
    for (const peer of (await wg("show", "wg0", "peers")).split("\n").filter(Boolean)) {
      await wg("set", "wg0", "peer", peer, "remove");
    }
    // The stack's agent advertises loopback; from the laptop the host is its veth's address.
    // Everything the laptop routes into the tunnel goes: what the host lets through is tested.
    const peer = ["peer", c.peerPublicKey, "endpoint", `${this.hostSide}:${port}`];
    await wg("set", "wg0", ...peer, "allowed-ips", "0.0.0.0/0");
  }

  async remove(): Promise<void> {
    // Deleting the tun ends the laptop's wireguard-go; deleting the namespace removes the rest.
    await run("ip", ["-n", this.netns, "link", "del", "wg0"]).catch(() => {});
    await run("ip", ["link", "del", this.hostIf]).catch(() => {});
    await run("ip", ["netns", "del", this.netns]).catch(() => {});
    await run("nft", ["delete", "table", "inet", this.table]).catch(() => {});
  }
}

describe("WireGuard into a workspace", () => {
  let stack: Stack;
  let user: UserKey;
  let hostd: Client<typeof HostService>;
  let firstPort: number;
  const laptop = new Laptop();

  const exec = (sandboxId: string, command: string) =>
    stack.call("POST", `/v1/sandboxes/${sandboxId}/exec`, { key: user.key, body: { command } });
  const reach = (ms = 3000) => tcpFrom(laptop.netns, WORKSPACE_TUNNEL.agentIp, 8000, ms);
  const answers = () =>
    waitFor(async () => (await reach()) === "got:hello over wireguard\n", 60_000, "the tunnel");
  const portsFile = () => readFile(join(stack.dataDir, "agent", "wireguard", "ports.json"), "utf8");

  beforeAll(async () => {
    firstPort = await udpRange();
    // Two ports: the second workspace takes the last one, the third finds none.
    stack = await Stack.start({
      poolSize: 0,
      agentEnv: { WRENN_WG_PORTS: `${firstPort}-${firstPort + 1}` },
    });
    user = await stack.key({ name: "wireguard" });
    hostd = hostdClient(stack.url, user.key);
  });
  afterAll(async () => {
    await laptop.remove();
    await stack?.close();
  });

  test("the laptop reaches a server in the workspace through the tunnel, and nothing else", async () => {
    const created = await hostd.createWorkspace({ name: "wgbox", ...SMALL });
    const config = created.clientConfig;
    if (!config) throw new Error("no client config");
    expect(config).toMatchObject({
      name: "wgbox",
      endpoint: `127.0.0.1:${firstPort}`,
      tunnelIp: "10.10.0.1/24",
      agentIp: "10.10.0.2",
    });
    expect(config.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(config.peerPublicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(created.workspace?.hostPort).toBe(firstPort);
    // The client's private key is not kept on the host: only its public key is.
    const dir = join(stack.dataDir, "agent", "wireguard");
    const stored = await sh("sh", "-c", `cat ${dir}/*.json`);
    expect(stored).not.toContain(config.privateKey);
    expect(await sh("stat", "-c", "%a", `${dir}/${await sandboxIdOf("wgbox")}.json`)).toBe("600\n");

    const sandboxId = await sandboxIdOf("wgbox");
    const server =
      "setsid node -e \"require('net').createServer((c) => c.end('hello over wireguard\\n')).listen(8000)\" " +
      "</dev/null >/dev/null 2>&1 &";
    expect((await exec(sandboxId, server)).status).toBe(200);

    await laptop.start(firstPort);
    // A wrong key first: the endpoint answers nothing.
    const stranger = await sh("wg", "genkey");
    await laptop.configure(config, stranger.trim());
    expect(await reach()).toBe("timeout");

    await laptop.configure(config);
    await answers();
    // Through the tunnel only the workspace's tunnel address: not another address of the
    // tunnel's subnet, not the workspace's own address on the host, not the host's address on
    // the workspace's link (the agent's port included), all routed into the tunnel here.
    const agentPort = Number(new URL(stack.agent.url).port);
    const vmIp = created.workspace?.vmIp ?? "";
    expect(vmIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const gateway = vmIp.replace(/\d+$/, (last) => String(Number(last) - 1));
    for (const address of [vmIp, gateway]) {
      await sh("ip", "-n", laptop.netns, "route", "replace", `${address}/32`, "dev", "wg0");
    }
    expect(await tcpFrom(laptop.netns, "10.10.0.3", 8000, 2000)).toBe("timeout");
    expect(await tcpFrom(laptop.netns, vmIp, 8000, 2000)).toBe("timeout");
    expect(await tcpFrom(laptop.netns, gateway, agentPort, 2000)).toBe("timeout");
    expect(await tcpFrom(laptop.netns, gateway, 22, 2000)).toBe("timeout");
    // Outside the tunnel the laptop reaches nothing of the host but the UDP port (the fence).
    expect(await tcpFrom(laptop.netns, laptop.hostSide, agentPort, 2000)).toBe("timeout");
    // A port the workspace does not listen on is refused by the workspace itself (gVisor).
    expect(await tcpFrom(laptop.netns, WORKSPACE_TUNNEL.agentIp, 8001, 3000)).toBe(
      "error:ECONNREFUSED",
    );

    // Suspend: the endpoint stops; resume: same port, same keys, the tunnel answers again.
    expect((await hostd.suspendWorkspace({ name: "wgbox" })).workspace?.hostPort).toBe(firstPort);
    expect(await reach(2000)).toBe("timeout");
    const resumed = await hostd.resumeWorkspace({ name: "wgbox" });
    expect(resumed.workspace?.hostPort).toBe(firstPort);
    await answers();

    // The agent dies and comes back: the assignment is read back, the endpoint made again.
    expect(JSON.parse(await portsFile())).toEqual({ [sandboxId]: firstPort });
    await stack.agent.kill9();
    await stack.agent.start();
    await waitFor(
      async () => (await hostd.getWorkspace({ name: "wgbox" })).workspace?.state === "running",
      120_000,
      "the workspace to be running after the agent came back",
    );
    expect((await hostd.getWorkspace({ name: "wgbox" })).workspace?.hostPort).toBe(firstPort);
    await answers();
  });

  test("a host out of ports refuses with a clear error and creates nothing; destroy frees the port", async () => {
    const second = await hostd.createWorkspace({ name: "wgtwo", ...SMALL });
    expect(second.workspace?.hostPort).toBe(firstPort + 1);
    const none = await failure(hostd.createWorkspace({ name: "wgthree", ...SMALL }));
    expect(none.code).toBe(Code.ResourceExhausted);
    expect(none.metadata.get(ERROR_CODE_HEADER)).toBe("workspace_ports_exhausted");
    expect(none.rawMessage).toMatch(/WireGuard port/);
    expect((await hostd.listWorkspaces({})).workspaces.map((w) => w.name).sort()).toEqual([
      "wgbox",
      "wgtwo",
    ]);
    const rest = await stack.call("POST", "/v1/workspaces", {
      key: user.key,
      body: { name: "wgthree", ...SMALL },
    });
    expect(rest.status).toBe(429);

    // Destroy frees the port (and takes its endpoint down); the next workspace gets it.
    await hostd.destroyWorkspace({ name: "wgtwo" });
    expect(Object.values(JSON.parse(await portsFile()))).toEqual([firstPort]);
    const links = await sh("ip", "-o", "link", "show");
    expect(links).not.toContain(`wrwg${firstPort + 1}:`);
    const third = await hostd.createWorkspace({ name: "wgthree", ...SMALL });
    expect(third.workspace?.hostPort).toBe(firstPort + 1);

    // Rotate: new keys, same port; the old client key no longer gets through.
    const rotated = await stack.call("POST", "/v1/workspaces/wgbox/rotate", { key: user.key });
    expect(rotated.status, rotated.text).toBe(200);
    const fresh = rotated.body as ClientConfig;
    expect(fresh.endpoint).toBe(`127.0.0.1:${firstPort}`);
    expect(await reach(2000)).toBe("timeout");
    await laptop.configure(fresh);
    await answers();

    for (const name of ["wgbox", "wgthree"]) await hostd.destroyWorkspace({ name });
    expect(JSON.parse(await portsFile())).toEqual({});
    const left = await sh("ip", "-o", "link", "show");
    expect(left).not.toContain(`wrwg${firstPort}:`);
    expect(left).not.toContain(`wrwg${firstPort + 1}:`);
  });

  async function sandboxIdOf(name: string): Promise<string> {
    const r = await stack.call("GET", `/v1/workspaces/${name}`, { key: user.key });
    expect(r.status, r.text).toBe(200);
    return (r.body as { sandboxId: string }).sandboxId;
  }
});
