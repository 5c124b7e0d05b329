// The "laptop" of the WireGuard tests and bench/workspaces: a network namespace with
// wireguard-go and the workspace's client config, fenced so its only way to the host is the
// workspace's UDP port.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { WORKSPACE_TUNNEL } from "@wrenn/contract";
import type { ClientConfig } from "@wrenn/proto/hostd";
import { leaseSlot } from "../harness/slot-lease.js";

export const run = promisify(execFile);
/** Workspaces here are small: the host runs other stacks beside this one. */
export const SMALL = { vcpus: 1, memoryMb: 512, diskGb: 2 };
export const sh = async (file: string, ...args: string[]) => (await run(file, args)).stdout;
/** A program fed `lines` on stdin (`ip -batch -`, `nft -f -`: one transaction). */
export async function pipe(file: string, args: string[], lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(file, args, (error, _out, stderr) =>
      error
        ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`))
        : resolve(),
    );
    child.stdin?.end(`${lines.join("\n")}\n`);
  });
}

/** Two free UDP ports next to each other (no other listener now), for this stack alone. */
export async function udpRange(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 100; i++) {
    // Above the test slots' own ranges (40000-41023, test-slots.ts).
    const first = 56000 + 2 * Math.floor(Math.random() * 2000);
    if ((await free(first)) && (await free(first + 1))) return first;
  }
  throw new Error("no two free UDP ports");
}

/** A TCP connect from inside `netns`: the bytes the server sent, or why there were none. */
export async function tcpFrom(
  netns: string,
  host: string,
  port: number,
  ms: number,
): Promise<string> {
  const client = `
const s = require("net").connect({ host: ${JSON.stringify(host)}, port: ${port} });
let data = "";
const t = setTimeout(() => { process.stdout.write("timeout"); process.exit(0); }, ${ms});
s.on("data", (d) => { data += d; });
s.on("end", () => { clearTimeout(t); process.stdout.write("got:" + data); process.exit(0); });
s.on("error", (e) => { clearTimeout(t); process.stdout.write("error:" + e.code); process.exit(0); });`;
  return sh("ip", "netns", "exec", netns, process.execPath, "-e", client);
}

/**
 * The laptop: its namespace, its veth, wireguard-go with the client config, and its fence.
 * Its link is 198.18.<128 + slot>.0/30 of a test slot it holds from start() to remove(): the
 * fleet and stand-in-internet tests take their links the same way, so none share an address
 * (a random one once matched a fleet test's control-plane address and the tunnel never came up).
 */
export class Laptop {
  readonly tag = randomBytes(2).toString("hex");
  readonly netns = `wgl-${this.tag}`;
  readonly hostIf = `wglh${this.tag}`;
  readonly table = `wgtest_${this.tag}`;
  private lease: ReturnType<typeof leaseSlot> | undefined;

  private get subnet(): number {
    if (!this.lease) throw new Error("the laptop is not started");
    return 128 + this.lease.slot;
  }
  get hostSide(): string {
    return `198.18.${this.subnet}.1`;
  }
  get inner(): string {
    return `198.18.${this.subnet}.2`;
  }

  async start(port: number): Promise<void> {
    await this.teardown();
    if (!this.lease) {
      this.lease = leaseSlot();
      if (this.lease.slot >= 128) {
        this.release();
        throw new Error("no laptop subnet: over 128 test slots are held; too many test runs alive");
      }
    }
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

  /** Only the workspace's UDP ports of the host are open to the laptop (nothing is routed). */
  async fence(...ports: number[]): Promise<void> {
    const t = `inet ${this.table}`;
    const script = [
      `add table ${t}`,
      `delete table ${t}`,
      `add table ${t}`,
      `add chain ${t} input { type filter hook input priority -10; policy accept; }`,
      ...ports.map(
        (port) => `add rule ${t} input iifname "${this.hostIf}" udp dport ${port} accept`,
      ),
      `add rule ${t} input iifname "${this.hostIf}" drop`,
      `add chain ${t} forward { type filter hook forward priority -10; policy accept; }`,
      `add rule ${t} forward iifname "${this.hostIf}" drop`,
    ];
    await pipe("nft", ["-f", "-"], script);
  }

  /** The client config, as `wg` takes it, with the endpoint on this laptop's link. */
  async configure(
    c: Pick<ClientConfig, "endpoint" | "privateKey" | "peerPublicKey">,
    privateKey = c.privateKey,
  ): Promise<void> {
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

  /** Takes everything away and gives the subnet back. */
  async remove(): Promise<void> {
    await this.teardown();
    this.release();
  }

  private release(): void {
    this.lease?.release();
    this.lease = undefined;
  }

  private async teardown(): Promise<void> {
    // Deleting a tun ends its wireguard-go (deleting the namespace would not: one left by a
    // failed run kept its socket in /var/run/wireguard and broke the next run's `wrenn
    // workspace up`): wg0 and any tunnel the CLI brought up here.
    const links = await run("ip", ["-n", this.netns, "-o", "link", "show"]).then(
      (r) => r.stdout,
      () => "",
    );
    for (const name of links.matchAll(/^\d+: ([^:@\s]+)/gm)) {
      if (name[1] !== "lo" && name[1] !== "eth0") {
        await run("ip", ["-n", this.netns, "link", "del", name[1] as string]).catch(() => {});
      }
    }
    await run("ip", ["link", "del", this.hostIf]).catch(() => {});
    await run("ip", ["netns", "del", this.netns]).catch(() => {});
    await run("nft", ["delete", "table", "inet", this.table]).catch(() => {});
  }
}
