import type { SlotRecord } from "./allocation-store.js";
import type { FirewallEntry } from "./firewall.js";
import { formatIpv4, type Ipv4Cidr } from "./ipv4.js";
import { namesFor } from "./naming.js";
import { GUEST_IF, type LinkAddresses } from "./netlink.js";

/** Everything the runtime needs to know about one sandbox's network. */
export interface SandboxNetwork {
  readonly sandboxId: string;
  readonly netns: string;
  /** Goes into the OCI spec: linux.namespaces[{ type: "network", path }]. */
  readonly netnsPath: string;
  readonly hostIf: string;
  readonly guestIf: typeof GUEST_IF;
  readonly hostIp: string;
  readonly guestIp: string;
  readonly prefixLen: 30;
  /** The host side, which is also the sandbox's default route. */
  readonly gateway: string;
}

export const PREFIX_LEN = 30;
export const SLOT_SIZE = 4;

/**
 * How a claimed slot maps to addresses and names. Pure arithmetic on the pool and the name
 * prefix, kept apart from the manager so setup, teardown and reconcile all derive a
 * sandbox's addresses the same way.
 */
export class SlotLayout {
  constructor(
    readonly poolCidr: Ipv4Cidr,
    readonly prefix: string,
    private readonly mtu: number | undefined,
  ) {}

  addresses(record: SlotRecord): LinkAddresses {
    const base = this.poolCidr.base + record.index * SLOT_SIZE;
    const a = {
      hostIp: formatIpv4(base + 1),
      guestIp: formatIpv4(base + 2),
      prefixLen: PREFIX_LEN,
    };
    return this.mtu === undefined ? a : { ...a, mtu: this.mtu };
  }

  entry(record: SlotRecord): FirewallEntry {
    const names = namesFor(this.prefix, record.sandboxId);
    return { hostIf: names.hostIf, chain: names.chain, steerChain: names.steerChain };
  }

  describe(record: SlotRecord): SandboxNetwork {
    const names = namesFor(this.prefix, record.sandboxId);
    const { hostIp, guestIp } = this.addresses(record);
    return {
      sandboxId: record.sandboxId,
      netns: names.netns,
      netnsPath: names.netnsPath,
      hostIf: names.hostIf,
      guestIf: GUEST_IF,
      hostIp,
      guestIp,
      prefixLen: PREFIX_LEN,
      gateway: hostIp,
    };
  }
}
