/** Network policy of a sandbox (see hostagent.proto NetworkPolicy). */
export interface NetworkPolicy {
  allowInternet: boolean;
  allowOut: string[];
  denyOut: string[];
}

export const NO_NETWORK: NetworkPolicy = { allowInternet: false, allowOut: [], denyOut: [] };
