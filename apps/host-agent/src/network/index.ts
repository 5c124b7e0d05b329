export { NetworkError, type NetworkErrorCode } from "./errors.js";
export { type FirewallState, readFirewallState } from "./firewall.js";
export type { NetworkLogger } from "./logger.js";
export {
  NetworkManager,
  type NetworkManagerOptions,
  type ReconcileReport,
  type SandboxNetwork,
} from "./network-manager.js";
export { type NetworkPolicy, type NetworkPolicyRequest, resolvePolicy } from "./policy.js";
export { netnsFixPrefix, withNetnsFix } from "./runsc-netns-fix.js";
