import { execFile } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { testCertificate } from "../../apps/host-agent/src/network/egress-test-kit.js";
import { leaseSlot } from "./slot-lease.js";

const exec = promisify(execFile);

/** One `ip -batch` run (in `netns` if given); `force` goes on past lines that fail. */
async function ipBatch(lines: readonly string[], opts: { netns?: string; force?: boolean } = {}) {
  const args = [...(opts.netns ? ["-n", opts.netns] : []), ...(opts.force ? ["-force"] : [])];
  const child = exec("ip", [...args, "-batch", "-"]);
  child.child.stdin?.end(`${lines.join("\n")}\n`);
  await child;
}

/** One simulated machine of a fleet: a network namespace behind its own /30 veth link. */
export interface FleetHost {
  /** The namespace the agent runs in (AgentOptions.netns). */
  readonly netns: string;
  /** The agent's address on its link: what it listens on and its certificate names. */
  readonly address: string;
  /** The agent's certificate for `address` (self-signed: it is its own CA). */
  readonly tls: { cert: string; key: string; ca: string };
}

/**
 * Machines for a fleet test, on this machine: the control plane's address on an
 * interface of the root namespace, and per host a namespace joined to the root namespace by
 * a veth with a /30 of 198.18.<128 + slot>.0/24 (slot: a test slot this run holds, so two
 * runs at once never share an address or a name; 198.18.0.0/15 is never routed outside).
 * Each namespace routes only to the control plane's address: its sandboxes reach nothing else.
 */
export class FleetNetwork {
  readonly hosts: FleetHost[] = [];
  /**
   * The control plane's certificate for its address (self-signed: the agents' CA file,
   * WRENN_CONTROL_PLANE_CA) and its key; `pem` is the certificate's text.
   */
  controlPlaneTls: { cert: string; key: string; pem: string } = { cert: "", key: "", pem: "" };
  private readonly tag: string;
  private readonly subnet: number;
  private readonly cpLink: string;

  private constructor(
    private readonly lease: ReturnType<typeof leaseSlot>,
    private readonly dir: string,
  ) {
    if (lease.slot >= 128) {
      throw new Error(`test slot ${lease.slot}: only 128 fleet subnets; too many test runs alive`);
    }
    this.tag = lease.slot.toString(16).padStart(2, "0");
    this.subnet = 128 + lease.slot;
    this.cpLink = `wf${this.tag}cp`;
  }

  /** The address the control plane listens on, reachable from every host's namespace. */
  get controlPlaneAddress(): string {
    return `198.18.${this.subnet}.1`;
  }

  /** `dir`: where the hosts' certificates go (the caller removes it). */
  static async create(dir: string, count: number): Promise<FleetNetwork> {
    const lease = leaseSlot();
    let fleet: FleetNetwork | undefined;
    try {
      fleet = new FleetNetwork(lease, dir);
      await fleet.remove();
      await ipBatch([
        // A veth with both ends here stands in for a dummy interface (no dummy module on
        // these machines): it only carries the address.
        `link add ${fleet.cpLink} type veth peer name ${fleet.cpLink}x`,
        `addr add ${fleet.controlPlaneAddress}/32 dev ${fleet.cpLink}`,
        `link set ${fleet.cpLink} up`,
        `link set ${fleet.cpLink}x up`,
      ]);
      for (let i = 0; i < count; i++) await fleet.addHost(i);
      const cpDir = join(dir, "control-plane-tls");
      await mkdir(cpDir, { recursive: true });
      const files = await testCertificate(cpDir, [fleet.controlPlaneAddress]);
      fleet.controlPlaneTls = { ...files, pem: await readFile(files.cert, "utf8") };
      return fleet;
    } catch (error) {
      await fleet?.remove();
      lease.release();
      throw error;
    }
  }

  private names(i: number) {
    return { netns: `wrenn-fleet-${this.tag}-${i}`, root: `wf${this.tag}h${i}` };
  }

  private async addHost(i: number): Promise<void> {
    const { netns, root } = this.names(i);
    const rootSide = `198.18.${this.subnet}.${4 * i + 5}`;
    const address = `198.18.${this.subnet}.${4 * i + 6}`;
    await ipBatch([
      `netns add ${netns}`,
      `link add ${root} type veth peer name uplink netns ${netns}`,
      `addr add ${rootSide}/30 dev ${root}`,
      `link set ${root} up`,
    ]);
    await ipBatch(
      [
        `addr add ${address}/30 dev uplink`,
        "link set uplink up",
        "link set lo up",
        `route add ${this.controlPlaneAddress}/32 via ${rootSide} dev uplink`,
      ],
      { netns },
    );
    const certDir = join(this.dir, netns);
    await mkdir(certDir, { recursive: true });
    const files = await testCertificate(certDir, [address]);
    this.hosts.push({
      netns,
      address,
      tls: { cert: files.cert, key: files.key, ca: await readFile(files.cert, "utf8") },
    });
  }

  /** Every host's certificate: the control plane's agent CA bundle. */
  get caBundle(): string {
    return this.hosts.map((h) => h.tls.ca).join("");
  }

  /**
   * Removes every namespace, link and address of this fleet (idempotent). The agents must be
   * gone first: their sandboxes' namespaces live under the hosts' namespaces' routes.
   */
  async remove(): Promise<void> {
    const left = await this.leftovers();
    // Links first: deleting a host's side of a veth takes its peer in the namespace too.
    // -force: one already gone (a namespace freed with its peer) must not stop the rest.
    const lines = [
      ...left.links.map((l) => `link del ${l}`),
      ...left.spaces.map((n) => `netns del ${n}`),
    ];
    if (lines.length > 0) await ipBatch(lines, { force: true }).catch(() => {});
    const still = await this.leftovers();
    if (still.links.length + still.spaces.length > 0) {
      throw new Error(`fleet network left behind: ${[...still.links, ...still.spaces].join(", ")}`);
    }
  }

  private async leftovers(): Promise<{ links: string[]; spaces: string[] }> {
    const { stdout: links } = await exec("ip", ["-o", "link", "show"]);
    const { stdout: spaces } = await exec("ip", ["netns", "list"]);
    return {
      links: [...links.matchAll(/^\d+: ([^:@]+)/gm)]
        .map((m) => m[1] ?? "")
        .filter((l) => l.startsWith(`wf${this.tag}`)),
      spaces: spaces
        .split("\n")
        .map((l) => l.split(" ")[0] ?? "")
        .filter((n) => n.startsWith(`wrenn-fleet-${this.tag}-`)),
    };
  }

  /** remove(), then lets the slot go. */
  async close(): Promise<void> {
    try {
      await this.remove();
    } finally {
      this.lease.release();
    }
  }
}
