import type { NetworkPolicy } from "../network/policy.js";
import type { RuntimeId } from "../runtime/driver.js";

/** The sandbox's network as the manager needs it (implemented by network/). */
export interface NetworkLease {
  netnsPath: string;
  /** The sandbox's address, where envd and user ports are reached from the host. */
  guestIp: string;
}

export interface SandboxNetworks {
  /** The link a runtime gets in the namespace (RuntimeCapabilities.network). */
  readonly attachment: "veth";
  /** Allocates an address and builds the namespace, veth and firewall rules; idempotent. */
  setup(runtimeId: RuntimeId, policy: NetworkPolicy): Promise<NetworkLease>;
  /** Replaces the firewall rules (a pooled sandbox gets its owner's policy at claim). */
  applyPolicy(runtimeId: RuntimeId, policy: NetworkPolicy): Promise<void>;
  /** runsc strips eth0's address when it takes it over; put it back before a restore. */
  restoreAddress(runtimeId: RuntimeId): Promise<void>;
  teardown(runtimeId: RuntimeId): Promise<void>;
  /** Removes every namespace, link, rule and allocation not belonging to a known sandbox. */
  reconcile(knownRuntimeIds: RuntimeId[]): Promise<void>;
  /**
   * Connections of the sandbox that are closing without a descriptor inside it (TIME_WAIT and
   * the like), as "STATE port N": the sandbox's own /proc/net/tcp does not show them.
   */
  closingConnections(runtimeId: RuntimeId): Promise<string[]>;
  /**
   * The CA (PEM) the sandbox must trust for its header rules' HTTPS (the egress proxy's, made
   * on first call); undefined when the agent runs no egress proxy.
   */
  egressCa(runtimeId: RuntimeId): Promise<string | undefined>;
  /** argv for running runsc for a sandbox in this namespace (kernel >= 6 work-around). */
  wrapForNetns(netnsPath: string, runscArgv: string[]): [string, string[]];
}
