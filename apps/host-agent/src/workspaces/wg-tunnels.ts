import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { WORKSPACE_TUNNEL } from "@wrenn/contract";
import type { Logger } from "pino";
import { CommandError, runCommand } from "../command/run-command.js";
import { ForwardingSwitch } from "../network/forwarding.js";
import { assertNamePrefix } from "../network/naming.js";
import { TUNNEL_CT_MARK, TUNNEL_CT_MASK, tunnelMark } from "../network/tunnel-marks.js";
import { AgentError } from "../sandboxes/errors.js";
import { isWireguardKey, type WireguardKeyPair, wireguardKeyPair } from "./wg-keys.js";
import { type PortRange, WireguardPorts } from "./wg-ports.js";

/** The workspace's side of every tunnel (ClientConfig.agent_ip) and the client's address. */
const TUNNEL_AGENT_IP = WORKSPACE_TUNNEL.agentIp;
const TUNNEL_CLIENT_IP = WORKSPACE_TUNNEL.clientCidr.split("/")[0];

/**
 * Before interface names carried the agent's prefix, every agent named its tuns `wrwg<port>`:
 * two agents on one host (two test stacks) took each other's. An upgraded agent still removes
 * the old name of a port it holds.
 */
const LEGACY_IF_PREFIX = "wrwg";

const SANDBOX_ID = /^[a-z]{2,3}-[0-9a-f]{8}$/;

export interface WireguardTunnelsOptions {
  /**
   * The agent's interface prefix (WRENN_NETWORK_PREFIX, at most 7 characters): tuns are named
   * `wg<prefix><port>` (`wgwrenn-51820`), within IFNAMSIZ, unique to this agent, and NOT
   * starting with the prefix: the isolation rules treat every `<prefix>*` as a sandbox's veth.
   */
  ifPrefix: string;
  /** Holds ports.json and one key file per tunnel (0600). */
  dir: string;
  range: PortRange;
  /** Our own nftables table (inet), rebuilt whole from the tunnels that are up. */
  table: string;
  forwardingStateDir: string;
  /** The sandbox's address while it runs; undefined when it is not running. */
  addressOf: (sandboxId: string) => string | undefined;
  log: Logger;
}

interface StoredTunnel {
  serverPrivateKey: string;
  serverPublicKey: string;
  clientPublicKey: string;
}

/**
 * Each workspace's WireGuard endpoint: wireguard-go on the host, one tun per workspace named by
 * its UDP port, in the root namespace. gVisor's netstack owns the sandbox namespace's eth0, so a
 * tun in that namespace would reach the host side of the veth, not the sandbox; on the host the
 * tunnel's packets are routed like any other. Every tunnel has the same addresses (client
 * 10.10.0.1, workspace 10.10.0.2), so our table DNATs 10.10.0.2 to the workspace's own address,
 * masquerades to the veth's host address (the sandbox answers its gateway, which its namespace's
 * backstop lets through as replies), marks the connection with the port, and sends the replies
 * back through the right tun by that mark (one `ip rule` and routing table per tunnel). From a
 * tunnel nothing else is reachable: only 10.10.0.2, DNAT-ed, forwarded to that one address.
 * The endpoint runs while its sandbox runs (`sync`); port and keys stay across pauses and agent
 * restarts; `close` (destroy) frees the port.
 */
export class WireguardTunnels {
  readonly ports: WireguardPorts;
  private readonly up = new Map<number, { sandboxId: string; address: string }>();
  private readonly forwarding: ForwardingSwitch;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WireguardTunnelsOptions) {
    // The network manager's own check of the prefix: at most 7 characters (so `wg`, the
    // prefix and a 5-digit port fit IFNAMSIZ) and not starting with "wg".
    assertNamePrefix(o.ifPrefix);
    this.ports = new WireguardPorts(path.join(o.dir, "ports.json"), o.range);
    this.forwarding = new ForwardingSwitch(o.forwardingStateDir, `${o.table}`);
  }

  /**
   * Claims the sandbox's port (keeping one it has), makes new keys for both ends (the client's
   * private key is returned, never kept) and brings the endpoint up if the sandbox runs.
   */
  open(sandboxId: string): Promise<{ port: number; serverPublicKey: string; clientKey: string }> {
    checkId(sandboxId);
    return this.serial(async () => {
      const port = await this.ports.claim(sandboxId);
      const server = wireguardKeyPair();
      const client: WireguardKeyPair = wireguardKeyPair();
      await this.store(sandboxId, {
        serverPrivateKey: server.privateKey,
        serverPublicKey: server.publicKey,
        clientPublicKey: client.publicKey,
      });
      // New keys: an endpoint already up must take them, so it is made again.
      await this.stop(port);
      await this.apply(sandboxId);
      return { port, serverPublicKey: server.publicKey, clientKey: client.privateKey };
    });
  }

  /** Endpoint down, keys and port gone; a sandbox without a tunnel is not an error. */
  close(sandboxId: string): Promise<void> {
    return this.serial(async () => {
      const port = await this.ports.portOf(sandboxId);
      if (port !== undefined) await this.stop(port);
      await rm(this.keyFile(sandboxId), { force: true });
      await this.ports.release(sandboxId);
      await this.render();
    });
  }

  /** Up while its sandbox runs, down otherwise (after a pause, a resume, an agent start). */
  sync(sandboxId: string): Promise<void> {
    return this.serial(() => this.apply(sandboxId));
  }

  /**
   * At agent start: every tunnel whose sandbox is gone is closed; the others are made again
   * (a previous agent's wireguard-go and rules may be stale or half made).
   */
  async restore(known: (sandboxId: string) => boolean): Promise<void> {
    for (const [sandboxId, port] of await this.ports.all()) {
      if (!known(sandboxId)) {
        this.o.log.info({ sandboxId, port }, "closing the tunnel of a sandbox that is gone");
        await this.close(sandboxId);
        continue;
      }
      // One tunnel that cannot come up (its port taken by another program) must not keep the
      // agent, and every other sandbox, down: it is tried again at the sandbox's next resume.
      await this.serial(async () => {
        await runCommand("ip", ["link", "del", `${LEGACY_IF_PREFIX}${port}`]).catch(ignoreMissing);
        await this.stop(port);
        await this.apply(sandboxId);
      }).catch((error: unknown) =>
        this.o.log.error(
          { sandboxId, port, err: error },
          "a workspace tunnel did not come up at start; it is tried again when the sandbox resumes",
        ),
      );
    }
    // Key files of nobody (a crash between writing one and claiming the port).
    const held = await this.ports.all();
    for (const name of await readdir(this.o.dir).catch(() => [] as string[])) {
      const id = name.replace(/\.json$/, "");
      if (name.endsWith(".json") && SANDBOX_ID.test(id) && !held.has(id)) {
        await rm(path.join(this.o.dir, name), { force: true });
      }
    }
    await this.serial(() => this.render());
  }

  /**
   * Periodically: our table rewritten (a flushed ruleset or a firewall reload removes it) and
   * IPv4 forwarding held on again if something switched it off under us.
   */
  verify(): Promise<void> {
    return this.serial(async () => {
      if (this.up.size > 0) await this.render();
    });
  }

  /** Stops every endpoint (a clean agent stop keeps ports and keys for the next start). */
  async shutdown(): Promise<void> {
    await this.serial(async () => {
      for (const port of [...this.up.keys()]) await this.stop(port);
      await this.render();
    });
  }

  // ----------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private keyFile(sandboxId: string): string {
    return path.join(this.o.dir, `${sandboxId}.json`);
  }

  private async store(sandboxId: string, t: StoredTunnel): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    const temp = `${this.keyFile(sandboxId)}.tmp`;
    await writeFile(temp, `${JSON.stringify(t)}\n`, { mode: 0o600 });
    await rename(temp, this.keyFile(sandboxId));
  }

  private async load(sandboxId: string): Promise<StoredTunnel | undefined> {
    try {
      const t = JSON.parse(await readFile(this.keyFile(sandboxId), "utf8")) as StoredTunnel;
      const ok = [t.serverPrivateKey, t.serverPublicKey, t.clientPublicKey].every(isWireguardKey);
      return ok ? t : undefined;
    } catch {
      return undefined;
    }
  }

  private async apply(sandboxId: string): Promise<void> {
    const port = await this.ports.portOf(sandboxId);
    if (port === undefined) return;
    const address = this.o.addressOf(sandboxId);
    const current = this.up.get(port);
    if (!address) {
      if (current) await this.stop(port);
    } else if (!current || current.address !== address) {
      const stored = await this.load(sandboxId);
      if (!stored) {
        this.o.log.error(
          { sandboxId, port },
          "tunnel keys unreadable: rotate the workspace's keys",
        );
        return;
      }
      await this.start(sandboxId, port, address, stored);
    }
    await this.render();
  }

  private async start(
    sandboxId: string,
    port: number,
    address: string,
    t: StoredTunnel,
  ): Promise<void> {
    const dev = this.ifName(port);
    await this.stop(port);
    try {
      // wireguard-go makes the tun, then daemonizes (its own stdio on /dev/null) and returns.
      await runCommand("wireguard-go", [dev], { timeoutMs: 30_000 });
      // The private key goes through a 0600 file, never argv (visible to every user in /proc);
      // `wg` cannot read it from a pipe that node made (a socket: /dev/stdin is ENXIO).
      const keyFile = path.join(this.o.dir, `${port}.key`);
      await writeFile(keyFile, `${t.serverPrivateKey}\n`, { mode: 0o600 });
      try {
        await runCommand("wg", [
          "set",
          dev,
          "listen-port",
          String(port),
          "private-key",
          keyFile,
          "peer",
          t.clientPublicKey,
          "allowed-ips",
          `${TUNNEL_CLIENT_IP}/32`,
        ]);
      } finally {
        await rm(keyFile, { force: true });
      }
      const mark = String(tunnelMark(port));
      await runCommand("ip", ["-batch", "-"], {
        input: [
          `link set ${dev} up`,
          // Only the client's address: everything else marked M (the tunnel's packets to the
          // workspace) falls through to the main table.
          `route replace ${TUNNEL_CLIENT_IP}/32 dev ${dev} table ${mark}`,
          `rule add fwmark ${mark} lookup ${mark} priority 100`,
          "",
        ].join("\n"),
      });
      // The tun has no address, so with rp_filter on the reverse-path check passes only when it
      // finds the client's address through this tun: by the packet's mark, its table.
      await writeFile(`/proc/sys/net/ipv4/conf/${dev}/src_valid_mark`, "1");
      this.up.set(port, { sandboxId, address });
      this.o.log.info({ sandboxId, port, dev }, "workspace tunnel up");
    } catch (error) {
      await this.stop(port);
      throw new AgentError(
        "internal",
        `the WireGuard endpoint of ${sandboxId} did not start: ${(error as Error).message}; is wireguard-go installed (bin/setup)?`,
      );
    }
  }

  private ifName(port: number): string {
    return `wg${this.o.ifPrefix}${port}`;
  }

  /** Removing the tun ends its wireguard-go; the rule goes by hand, the table with the link. */
  private async stop(port: number): Promise<void> {
    const dev = this.ifName(port);
    const mark = String(tunnelMark(port));
    await runCommand("ip", ["link", "del", dev]).catch(ignoreMissing);
    for (let i = 0; i < 8; i++) {
      const gone = await runCommand("ip", ["rule", "del", "fwmark", mark, "lookup", mark]).then(
        () => false,
        () => true,
      );
      if (gone) break;
    }
    if (this.up.delete(port)) this.o.log.info({ port, dev }, "workspace tunnel down");
  }

  /** Our table, whole, in one transaction, from the tunnels that are up. */
  private async render(): Promise<void> {
    const t = `inet ${this.o.table}`;
    const any = `"wg${this.o.ifPrefix}*"`;
    const lines = [`add table ${t}`, `delete table ${t}`];
    if (this.up.size > 0) {
      const hex = (n: number) => `0x${n.toString(16)}`;
      lines.push(
        `add table ${t}`,
        `add chain ${t} tun_mark { type filter hook prerouting priority mangle; policy accept; }`,
        `add rule ${t} tun_mark iifname ${any} meta nfproto ipv6 drop`,
        `add rule ${t} tun_mark iifname ${any} ip daddr != ${TUNNEL_AGENT_IP} drop`,
        `add chain ${t} tun_dnat { type nat hook prerouting priority dstnat; policy accept; }`,
        `add chain ${t} tun_snat { type nat hook postrouting priority srcnat; policy accept; }`,
        `add chain ${t} tun_input { type filter hook input priority filter; policy accept; }`,
        `add rule ${t} tun_input iifname ${any} drop`,
        `add chain ${t} tun_forward { type filter hook forward priority filter; policy accept; }`,
      );
      for (const [port, { address }] of this.up) {
        const dev = `"${this.ifName(port)}"`;
        lines.push(
          `add rule ${t} tun_mark iifname ${dev} ct state new ct mark set ${hex(tunnelMark(port))}`,
          `add rule ${t} tun_dnat iifname ${dev} ip daddr ${TUNNEL_AGENT_IP} dnat ip to ${address}`,
          `add rule ${t} tun_forward iifname ${dev} ip daddr != ${address} drop`,
        );
      }
      lines.push(
        // Replies go back through the tunnel they came from: the routing mark picks its table.
        `add rule ${t} tun_mark ct mark & ${hex(TUNNEL_CT_MASK)} == ${hex(TUNNEL_CT_MARK)} meta mark set ct mark`,
        `add rule ${t} tun_forward iifname ${any} ct status & dnat == 0 drop`,
        `add rule ${t} tun_snat iifname ${any} masquerade`,
      );
    }
    await runCommand("nft", ["-f", "-"], { input: `${lines.join("\n")}\n` });
    await this.forwarding.sync(() => this.up.size > 0);
  }
}

function checkId(sandboxId: string): void {
  if (!SANDBOX_ID.test(sandboxId)) {
    throw new AgentError("invalid_argument", `invalid sandbox id ${JSON.stringify(sandboxId)}`);
  }
}

function ignoreMissing(error: unknown): void {
  if (error instanceof CommandError && /Cannot find device|does not exist/.test(error.message)) {
    return;
  }
  throw error;
}
