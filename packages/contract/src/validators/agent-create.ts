import { ContractError, errorMessage } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";
import { checkEgressPolicy, type EgressPolicy } from "./egress.js";
import { type EgressProxyWire, egressProxyFromWire } from "./egress-proxy.js";
import { type EgressRuleWire, egressRulesFromWire } from "./egress-rules.js";
import { checkMounts, type MountRequest } from "./mounts.js";
import { checkIntegerIn, checkRuntimeName, checkSandboxId, checkTemplateName } from "./scalars.js";
import { checkEnvVars, checkMetadata } from "./string-maps.js";

/**
 * The template a create without one uses, and the one every host builds first: the control
 * plane's default, and the one template a host agent keeps warm sandboxes of even when unused.
 */
export const DEFAULT_TEMPLATE = "base";

/** A create as the host agent receives it (the fields of hostagent.proto's request). */
export interface AgentCreateFields {
  sandboxId: string;
  template: string;
  resources?: { vcpus: number; memoryMb: number; diskMb: number };
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network?: EgressPolicyWire;
  mounts: MountRequest[];
  /** Empty: the host's default runtime. */
  runtime?: string;
}

export interface CheckedAgentCreate {
  sandboxId: string;
  template: string;
  /** undefined: the host's default runtime. */
  runtime?: string;
  /** Zero in the request (proto's unset) means "the host's default", left out here. */
  resources: { vcpus?: number; memoryMb?: number; diskMb?: number };
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network: EgressPolicy;
  mounts: MountRequest[];
}

/** EgressPolicy as hostagent.proto's NetworkPolicy carries it (rules as a list, egressProxy in
 * its proto form: see EgressProxyWire). */
export type EgressPolicyWire = Omit<EgressPolicy, "rules" | "egressProxy"> & {
  rules?: EgressRuleWire[];
  egressProxy?: EgressProxyWire;
};

/** A NetworkPolicy message checked by the contract's rules (create and network update). */
export function checkEgressPolicyWire(wire: EgressPolicyWire | undefined): EgressPolicy {
  if (!wire) return checkEgressPolicy({});
  return checkEgressPolicy({
    ...wire,
    rules: egressRulesFromWire(wire.rules),
    egressProxy: egressProxyFromWire(wire.egressProxy),
  });
}

const sized = (name: string, value: number | undefined, range: { min: number; max: number }) =>
  value ? checkIntegerIn(name, value, range) : undefined;

/**
 * Every shape rule of a create at the host agent: the real agent and the control plane's fake
 * agent both run this, so the fake accepts exactly what the real one does. Host-specific
 * decisions (mount roots, templates built, capacity) come after it.
 */
export function checkAgentCreate(req: AgentCreateFields): CheckedAgentCreate {
  const r = req.resources;
  return {
    sandboxId: checkSandboxId(req.sandboxId),
    template: checkTemplateName(req.template || DEFAULT_TEMPLATE),
    runtime: req.runtime ? checkRuntimeName(req.runtime) : undefined,
    resources: {
      vcpus: sized("vcpus", r?.vcpus, LIMITS.vcpus),
      memoryMb: sized("memoryMb", r?.memoryMb, LIMITS.memoryMb),
      diskMb: sized("diskMb", r?.diskMb, LIMITS.diskMb),
    },
    envVars: checkEnvVars(req.envVars),
    metadata: checkMetadata(req.metadata),
    network: checkEgressPolicyWire(req.network),
    mounts: checkMounts(req.mounts),
  };
}

/**
 * The runtime a create runs under, among the drivers a host has (its HostStatus runtimes, the
 * first being its default): refused with runtime_not_available when the host lacks it.
 */
export function checkRuntimeAvailable(runtime: string | undefined, present: readonly string[]) {
  const chosen = runtime ?? present[0];
  if (chosen === undefined || !present.includes(chosen)) {
    throw new ContractError(
      "runtime_not_available",
      `${errorMessage("runtime_not_available", { runtime: chosen ?? "(none)" })} (it has ${present.join(", ") || "none"})`,
    );
  }
  return chosen;
}
