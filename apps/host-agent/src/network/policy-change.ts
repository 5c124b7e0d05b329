import { egressAllows } from "@wrenn/contract";
import type { SlotRecord } from "./allocation-store.js";
import { cutForbiddenFlows } from "./conntrack-flush.js";
import type { EgressProxy } from "./egress/egress-proxy.js";
import type { ReconcileDeps } from "./network-reconcile.js";
import { type NetworkPolicy, policyWidens, samePolicy } from "./policy.js";

/** What a policy change needs of the manager: its store, rules, layout and egress proxy. */
export interface PolicyChangeDeps extends ReconcileDeps {
  readonly proxy: EgressProxy | undefined;
}

/**
 * Writes a sandbox's new policy: persisted first, then its rules and backstop together (what
 * passes is what both allow, so a failure of either keeps it at most as open as the old policy
 * or the new one), then cuts the connections the new policy forbids. Called under the
 * sandbox's lock. `force`: rewrite the rules even when the
 * stored policy is the same (an explicit policy change repairs a drifted rule set).
 */
export async function applyPolicyChange(
  deps: PolicyChangeDeps,
  record: SlotRecord,
  policy: NetworkPolicy,
  force: boolean,
): Promise<void> {
  const { store, firewall, backstops, layout, log, proxy } = deps;
  const unchanged = samePolicy(record.policy, policy);
  if (!unchanged || force) {
    // The intent is persisted first: if the rules fail to apply, verify and reconcile
    // converge on it.
    const old = deps.storedPolicy(record);
    await store.update({ ...record, policy });
    // The backstop follows the policy too, written at the same time as the root table (each
    // is an nft run of ~30 ms). A packet passes only what both allow, and without the root
    // table the backstop alone decides; so whichever write fails, the sandbox is at most as
    // open as the old policy or the new one (the error reaches the caller once both writes
    // have ended, and verify converges).
    const written = await Promise.allSettled([
      firewall.replace(layout.entry(record), policy),
      backstops.update({ ...layout.describe(record), policy }),
    ]);
    for (const w of written) if (w.status === "rejected") throw w.reason;
    const widens = policyWidens(old, policy);
    // A policy that lets out all the old one did forbids no open connection: nothing to look
    // for (a warm sandbox's claim, from deny-all to the caller's, saves its conntrack run).
    if (!unchanged && !widens) {
      const { guestIp } = layout.addresses(record);
      const proxied = proxy?.cut(guestIp, policy) ?? 0;
      if (proxied > 0) {
        log.debug({ sandboxId: record.sandboxId, proxied }, "cut proxied connections");
      }
      const cut = await cutForbiddenFlows(
        guestIp,
        (destination) => egressAllows(policy, destination),
        (m) => log.warn({}, m),
      );
      if (cut.length > 0) {
        log.debug({ sandboxId: record.sandboxId, cut }, "cut flows the new policy forbids");
      }
    }
  }
  await deps.syncForwarding(false);
}
