import type { NetworkLease, SandboxNetworks } from "../sandboxes/network-port.js";
import { closingConnections, readConntrackSnapshot } from "./closing-connections.js";
import type { NetworkManager } from "./network-manager.js";
import type { NetworkPolicy } from "./policy.js";
import { withNetnsFix } from "./runsc-netns-fix.js";

/** The manager's view of the network module. */
export class ManagedNetworks implements SandboxNetworks {
  /** One veth pair per namespace, the host end on the host (network-manager.ts). */
  readonly attachment = "veth";
  constructor(private readonly net: NetworkManager) {}

  async setup(runtimeId: string, policy: NetworkPolicy): Promise<NetworkLease> {
    const n = await this.net.setup(runtimeId, policy);
    return { netnsPath: n.netnsPath, guestIp: n.guestIp };
  }

  applyPolicy(runtimeId: string, policy: NetworkPolicy): Promise<void> {
    return this.net.setPolicy(runtimeId, policy);
  }

  restoreAddress(runtimeId: string): Promise<void> {
    return this.net.restoreAddress(runtimeId);
  }

  teardown(runtimeId: string): Promise<void> {
    return this.net.teardown(runtimeId);
  }

  async reconcile(knownRuntimeIds: string[]): Promise<void> {
    await this.net.reconcile(knownRuntimeIds);
  }

  async closingConnections(runtimeId: string): Promise<string[]> {
    const n = await this.net.get(runtimeId);
    if (!n) return [];
    return closingConnections(n.guestIp, await readConntrackSnapshot());
  }

  egressCa(runtimeId: string): Promise<string | undefined> {
    return this.net.egressCa(runtimeId);
  }

  /** `argv` is the whole command, program first (the agent's runsc may be any path). */
  wrapForNetns(netnsPath: string, argv: string[]): [string, string[]] {
    const [cmd, ...args] = withNetnsFix(netnsPath, argv);
    return [cmd!, args];
  }
}
