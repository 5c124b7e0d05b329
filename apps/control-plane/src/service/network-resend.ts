import { type EgressPolicy, egressRuleSecretNames } from "@wrenn/contract";
import { findSandbox, liveSandboxesWithRules, type SandboxRecord } from "../store/sandbox-store.js";
import { openEgressProxy } from "./egress-proxy-seal.js";
import { describe, type ServiceCore } from "./sandbox-service-core.js";
import { resolveEgressRules } from "./secret-resolver.js";

// The host agent keeps a policy's secret parts (header values with secrets filled in, the
// egressProxy's credentials) in memory only. They are sent again from the database's row when
// the agent lost them (a restart: the reconciler sees `networkIncomplete`) and when a secret a
// rule names changes (a rotation applies at once, not at the next network update).

/** What the host agent gets for the row's egress: placeholders filled, the password opened. */
async function agentPolicyOf(core: ServiceCore, row: SandboxRecord): Promise<EgressPolicy> {
  const { allowOut, denyOut, egressProxy, rules: written } = row.network;
  const rules = await resolveEgressRules(core.secrets, row.ownerId, written);
  const proxy = openEgressProxy(egressProxy, core.options.cipher);
  return {
    allowInternet: row.allowInternet,
    allowOut,
    denyOut,
    ...(proxy ? { egressProxy: proxy } : {}),
    ...(rules ? { rules } : {}),
  };
}

const policyKey = (row: SandboxRecord) => JSON.stringify([row.allowInternet, row.network]);

/**
 * Sends a running or paused sandbox's policy to its host again, as the database has it. A
 * network update racing this one wins: the row is read again after the send, and sent again
 * while it changed (the agent must end with the newest policy, never an older one).
 */
export async function resendSandboxNetwork(core: ServiceCore, row: SandboxRecord): Promise<void> {
  // Read afresh: the caller's row may be from before a settlement or an update.
  let current = await findSandbox(core.options.db, row.id);
  for (let round = 0; current && round < 5; round++) {
    if (current.state !== "running" && current.state !== "paused") return;
    const sent = policyKey(current);
    await core
      .clientFor(current)
      .updateSandboxNetwork(current.id, await agentPolicyOf(core, current));
    current = await findSandbox(core.options.db, current.id);
    if (current && policyKey(current) === sent) return;
  }
}

/**
 * After the owner's secret `name` changed: every running or paused sandbox of theirs whose
 * rules name it gets its policy again, with the new value. Failures are logged per sandbox
 * (the secret is stored either way). Returns the ids sent.
 */
export async function resendNetworksNaming(
  core: ServiceCore,
  ownerId: string,
  name: string,
): Promise<string[]> {
  const lower = name.toLowerCase();
  const rows = (await liveSandboxesWithRules(core.options.db, ownerId)).filter((r) =>
    egressRuleSecretNames(r.network.rules).includes(lower),
  );
  const sent: string[] = [];
  for (const row of rows) {
    try {
      await resendSandboxNetwork(core, row);
      sent.push(row.id);
    } catch (error) {
      core.options.logger.warn(
        { sandboxId: row.id, secret: lower, err: describe(error) },
        "could not send a changed secret to the sandbox's host; it applies at the next network update",
      );
    }
  }
  return sent;
}
