import { chown, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, Code } from "@connectrpc/connect";
import { ERROR_CODE_HEADER, WORKSPACE_TUNNEL } from "@wrenn/contract";
import { failure, hostdClient } from "@wrenn/control-plane/testing";
import type { ClientConfig, HostService } from "@wrenn/proto/hostd";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { repoRoot } from "../harness/paths.js";
import { waitFor } from "../harness/wait.js";
import { Laptop, run, SMALL, sh, tcpFrom, udpRange } from "./wg-laptop.js";

// WireGuard into a workspace, against the real stack (real agent, runsc, wireguard-go): a
// "laptop" in a network namespace this test creates, joined to the host by a veth on a /30 of
// its own (198.18.<n>.0/30, the benchmarking range), whose only way to the host is the
// workspace's UDP port (this test's own nft table). Through the tunnel it reaches a TCP server
// in the workspace on 10.10.0.2 and nothing else; the port survives suspend/resume and an
// agent restart; destroy frees it; a host with one port refuses the second workspace. Last,
// the real CLI: `wrenn workspace up` as root inside the laptop brings the tunnel up with
// wg-quick and wireguard-go, `down` takes it away; as another user it prints the config's path.

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
  /** Config homes of the CLI runs (each its own XDG_CONFIG_HOME), removed at the end. */
  const homes: string[] = [];
  /** The real CLI, pointed at this stack; `prefix` runs it in the laptop or as another user. */
  const wrenn = async (home: string, prefix: string[], ...args: string[]) => {
    const cli = join(repoRoot, "packages/cli/dist/bin/wrenn.js");
    const argv = [...prefix, process.execPath, cli, ...args];
    const r = await run(argv[0] as string, argv.slice(1), {
      env: {
        ...process.env,
        HOME: home,
        XDG_CONFIG_HOME: home,
        WRENN_API_URL: stack.url,
        WRENN_API_KEY: user.key,
      },
    });
    return { out: r.stdout, err: r.stderr };
  };

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
    for (const home of homes) await rm(home, { recursive: true, force: true });
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
    expect(links).not.toContain(`wg${stack.agentNetworkPrefix}${firstPort + 1}:`);
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
    await hostd.destroyWorkspace({ name: "wgthree" });
  });

  test("`wrenn workspace up` and `down`: wg-quick with wireguard-go as root, the config's path otherwise", {
    timeout: 600_000,
  }, async () => {
    // Another user: no saved config, so new keys are made and saved, and only the path printed.
    const nobodyHome = await mkdtemp(join(tmpdir(), "wrenn-cli-nobody-"));
    homes.push(nobodyHome);
    await chown(nobodyHome, 65534, 65534);
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const shown = await wrenn(nobodyHome, asNobody, "workspace", "up", "wgbox");
    const saved = join(nobodyHome, "wrenn", "wireguard", "wr-wgbox.conf");
    expect(shown.out.split("\n")[0]).toBe(saved);
    expect(shown.out).toContain(`wg-quick up ${saved}`);
    expect(shown.err).toContain("no saved config for wgbox");
    expect(((await stat(saved)).mode & 0o777).toString(8)).toBe("600");
    expect((await stat(saved)).uid).toBe(65534);

    // Root: new keys again (the laptop's user lost them), saved by `rotate` on the host.
    const home = await mkdtemp(join(tmpdir(), "wrenn-cli-root-"));
    homes.push(home);
    const file = (await wrenn(home, [], "workspace", "rotate", "wgbox")).out.trim();
    expect(file).toBe(join(home, "wrenn", "wireguard", "wr-wgbox.conf"));
    const config = await readFile(file, "utf8");
    expect(config).toContain(`Endpoint = 127.0.0.1:${firstPort}`);
    // The stack's agent advertises loopback; from the laptop the host is its veth's address.
    await writeFile(file, config.replace("127.0.0.1:", `${laptop.hostSide}:`), { mode: 0o600 });

    // The laptop's own wireguard-go goes (it holds 10.10.0.1); the CLI's tunnel takes over.
    await sh("ip", "-n", laptop.netns, "link", "del", "wg0");
    const inLaptop = ["ip", "netns", "exec", laptop.netns];
    const links = () => sh("ip", "-n", laptop.netns, "-o", "link", "show");
    const up = async () => {
      const r = await wrenn(home, inLaptop, "workspace", "up", "wgbox");
      expect(r.out).toBe("tunnel to wgbox up: the workspace is at 10.10.0.2\n");
      expect(await links()).toContain("wr-wgbox:");
      await answers();
    };
    const down = async () => {
      const r = await wrenn(home, inLaptop, "workspace", "down", "wgbox");
      expect(r.out).toBe("tunnel to wgbox down\n");
      expect(await links()).not.toContain("wr-wgbox:");
      // No route to the workspace is left behind either.
      expect(await reach(2000)).toBe("error:ENETUNREACH");
    };
    const suspend = async () => {
      const r = await stack.call("POST", "/v1/workspaces/wgbox/suspend", { key: user.key });
      expect(r.status, r.text).toBe(200);
    };

    await up();
    // Suspend right after a connection through the tunnel (once answered 502), then resume.
    await suspend();
    const resumed = await stack.call("POST", "/v1/workspaces/wgbox/resume", { key: user.key });
    expect(resumed.status, resumed.text).toBe(200);
    await answers();
    await down();

    // A second up after down works.
    await up();
    // The server stopped and its last connection closed, then a suspend at once (once a 502).
    const sandboxId = await sandboxIdOf("wgbox");
    expect((await exec(sandboxId, "pkill -f 'listen[(]8000'; true")).status).toBe(200);
    await waitFor(async () => (await reach()) === "error:ECONNREFUSED", 30_000, "the server gone");
    await suspend();
    await down();

    await hostd.destroyWorkspace({ name: "wgbox" });
    expect(JSON.parse(await portsFile())).toEqual({});
    const left = await sh("ip", "-o", "link", "show");
    expect(left).not.toContain(`wg${stack.agentNetworkPrefix}${firstPort}:`);
    expect(left).not.toContain(`wg${stack.agentNetworkPrefix}${firstPort + 1}:`);
  });

  async function sandboxIdOf(name: string): Promise<string> {
    const r = await stack.call("GET", `/v1/workspaces/${name}`, { key: user.key });
    expect(r.status, r.text).toBe(200);
    return (r.body as { sandboxId: string }).sandboxId;
  }
});
