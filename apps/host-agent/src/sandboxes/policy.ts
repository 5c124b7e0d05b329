import { egressDomains } from "@wrenn/contract";

/** Network policy of a sandbox (see hostagent.proto NetworkPolicy). */
export interface NetworkPolicy {
  allowInternet: boolean;
  allowOut: string[];
  denyOut: string[];
}

export const NO_NETWORK: NetworkPolicy = { allowInternet: false, allowOut: [], denyOut: [] };

/**
 * Whether the sandbox needs a name server: with internet access, or with host names in
 * allowOut (its DNS is then answered by the agent's forwarder, whatever address it asks).
 */
export const needsResolver = (p: NetworkPolicy): boolean =>
  p.allowInternet || egressDomains(p.allowOut).length > 0;
