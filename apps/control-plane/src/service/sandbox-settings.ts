import { checkTimeout, egressProxyView } from "@wrenn/contract";
import { HostError } from "../hosts/host-client.js";
import type { AuditEvent } from "../store/audit-store.js";
import { toSandbox, updateSandbox } from "../store/sandbox-store.js";
import { sealEgressProxy } from "./egress-proxy-seal.js";
import { sandboxNotFound, validated } from "./errors.js";
import { fromHostError } from "./host-refusal.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";
import { egressOf } from "./sandbox-input.js";
import { describe, type ServiceCore } from "./sandbox-service-core.js";
import type { SandboxChangeOptions } from "./sandbox-service-types.js";
import {
  type EgressRules,
  ownerScope,
  type Principal,
  SANDBOX_STATES,
  type Sandbox,
  type SandboxState,
} from "./sandbox-types.js";
import { resolveEgressRules } from "./secret-resolver.js";

// Changes to a live sandbox that are not state transitions: its timeout and its egress rules.

/** Every state but the ending ones: a sandbox that is not ending may have its end time moved. */
const TIMEOUT_STATES: readonly SandboxState[] = SANDBOX_STATES.filter(
  (s) => s !== "stopping" && s !== "stopped" && s !== "error",
);

// ---------------------------------------------------------------- timeout

/** Sets the end time to now + seconds, shortening it if asked (E2B's setTimeout). */
export async function setSandboxTimeout(
  core: ServiceCore,
  principal: Principal,
  id: string,
  asked: number,
  options: SandboxChangeOptions = {},
): Promise<Sandbox> {
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  const seconds = validated(() => checkTimeout(asked));
  if (!options.ofWorkspace) await core.refuseWorkspaceSandbox(principal, id);
  const row = await updateSandbox(
    core.options.db,
    { id, ownerId: ownerScope(principal), states: TIMEOUT_STATES },
    { endInSeconds: seconds },
  );
  if (!row) throw await core.unmatchedUpdateError(ownerScope(principal), id, "set the timeout of");
  if (options.audit === false) return toSandbox(row);
  await core.options.audit.record({
    ...core.actorFields({ actor: "api", principal }, row),
    action: "sandbox.timeout",
    sandboxId: id,
    outcome: "ok",
    detail: { seconds },
  });
  return toSandbox(row);
}

// ---------------------------------------------------------------- network

/**
 * Replaces a sandbox's whole egress policy without a restart (E2B's updateNetwork): what the
 * input leaves out is cleared, internet access falls back to the operator's default. The host
 * applies it first (a running sandbox's forbidden connections are cut there; a paused one gets
 * it when it resumes), then the record follows, so the record never claims rules the host
 * refused.
 */
export async function updateSandboxNetwork(
  core: ServiceCore,
  principal: Principal,
  id: string,
  input: {
    allowInternet?: boolean;
    network?: Pick<Partial<EgressRules>, "allowOut" | "denyOut"> & {
      egressProxy?: unknown;
      rules?: unknown;
    };
  },
): Promise<Sandbox> {
  const { egressProxy, ...egress } = validated(() => egressOf(input, core.options.defaults));
  Object.assign(egress.network, sealEgressProxy(egressProxy, core.options.cipher));
  const { rules: written, ...lists } = egress.network;
  if (!SANDBOX_ID_PATTERN.test(id)) throw sandboxNotFound(id);
  const row = await core.waitWhileInFlight(ownerScope(principal), id);
  if (!row || row.state === "stopped") throw sandboxNotFound(id);
  if (row.state !== "running" && row.state !== "paused") {
    throw await core.unmatchedUpdateError(ownerScope(principal), id, "change the network of");
  }
  // Inbound access is not part of E2B's egress update: it stays as it was.
  if (row.network.allowPublicTraffic === false) egress.network.allowPublicTraffic = false;
  const event: AuditEvent = {
    ...core.actorFields({ actor: "api", principal }, row),
    action: "sandbox.network",
    sandboxId: id,
    outcome: "ok",
    // The proxy's address and user name only, the rules' domains only: an audit record is no
    // place for secrets (header values, even written ones, included).
    detail: {
      allowInternet: egress.allowInternet,
      ...lists,
      egressProxy: egressProxyView(egressProxy),
      ...(written ? { ruleDomains: Object.keys(written) } : {}),
    },
  };
  try {
    // Resolved for the row's owner (an admin acting on it changes the owner's sandbox).
    const rules = await resolveEgressRules(core.secrets, row.ownerId, written);
    await core.clientFor(row).updateSandboxNetwork(id, {
      allowInternet: egress.allowInternet,
      allowOut: egress.network.allowOut,
      denyOut: egress.network.denyOut,
      ...(egressProxy ? { egressProxy } : {}),
      ...(rules ? { rules } : {}),
    });
  } catch (error) {
    await core.options.audit.record({
      ...event,
      outcome: "error",
      detail: { error: describe(error) },
    });
    if (error instanceof HostError) throw fromHostError(error, "change the sandbox's network");
    throw error;
  }
  const updated = await updateSandbox(
    core.options.db,
    { id, ownerId: ownerScope(principal), states: ["running", "paused"] },
    { egress },
  );
  if (!updated)
    throw await core.unmatchedUpdateError(ownerScope(principal), id, "change the network of");
  await core.options.audit.record(event);
  return toSandbox(updated);
}
