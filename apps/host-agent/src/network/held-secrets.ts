import { type NetworkPolicy, persistedPolicy } from "./policy.js";

/** What of a sandbox's policy never touches the disk: resolved header rules, proxy credentials. */
interface Held {
  readonly rules?: NonNullable<NetworkPolicy["rules"]>;
  readonly egressProxy?: NonNullable<NetworkPolicy["egressProxy"]>;
}

/**
 * The secret parts of each sandbox's policy, in memory only. The rest of the policy is persisted
 * (persistedPolicy). After an agent restart a sandbox has none until the control plane sends its
 * policy again (it does when the agent's ListSandboxes says `networkIncomplete`): meanwhile its
 * names with header rules pass through without the headers, and its egressProxy is dialled
 * without credentials, so a proxy that wants them refuses (fails closed, never direct).
 */
export class HeldSecrets {
  private readonly bySandbox = new Map<string, Held>();

  /** Keeps the policy's secret parts for the sandbox; returns what may be persisted. */
  keep(sandboxId: string, policy: NetworkPolicy): NetworkPolicy {
    const held: Held = {
      ...(policy.rules ? { rules: policy.rules } : {}),
      ...(policy.egressProxy?.username !== undefined ? { egressProxy: policy.egressProxy } : {}),
    };
    if (held.rules || held.egressProxy) this.bySandbox.set(sandboxId, held);
    else this.bySandbox.delete(sandboxId);
    return persistedPolicy(policy);
  }

  /** The persisted policy with the secret parts held for the sandbox put back. */
  merge(sandboxId: string, stored: NetworkPolicy): NetworkPolicy {
    const held = this.bySandbox.get(sandboxId);
    if (!held) return stored;
    // Credentials belong to the proxy they were given for: a stored address that differs
    // (cannot happen through keep, but a hand-edited file must not redirect them) drops them.
    const proxy =
      held.egressProxy && stored.egressProxy?.address === held.egressProxy.address
        ? { egressProxy: held.egressProxy }
        : {};
    return { ...stored, ...proxy, ...(held.rules ? { rules: held.rules } : {}) };
  }

  forget(sandboxId: string): void {
    this.bySandbox.delete(sandboxId);
  }
}
