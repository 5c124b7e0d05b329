import { LIMITS } from "../limits.js";
import { checkEgressPolicy, type EgressPolicy } from "./egress.js";
import { checkMounts, type MountRequest } from "./mounts.js";
import { checkIntegerIn, checkSandboxId, checkTemplateName } from "./scalars.js";
import { checkEnvVars, checkMetadata } from "./string-maps.js";

export const DEFAULT_TEMPLATE = "base";

/** A create as the host agent receives it (the fields of hostagent.proto's request). */
export interface AgentCreateFields {
  sandboxId: string;
  template: string;
  resources?: { vcpus: number; memoryMb: number; diskMb: number };
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network?: EgressPolicy;
  mounts: MountRequest[];
}

export interface CheckedAgentCreate {
  sandboxId: string;
  template: string;
  /** Zero in the request (proto's unset) means "the host's default", left out here. */
  resources: { vcpus?: number; memoryMb?: number; diskMb?: number };
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  network: EgressPolicy;
  mounts: MountRequest[];
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
    resources: {
      vcpus: sized("vcpus", r?.vcpus, LIMITS.vcpus),
      memoryMb: sized("memoryMb", r?.memoryMb, LIMITS.memoryMb),
      diskMb: sized("diskMb", r?.diskMb, LIMITS.diskMb),
    },
    envVars: checkEnvVars(req.envVars),
    metadata: checkMetadata(req.metadata),
    network: checkEgressPolicy(req.network ?? {}),
    mounts: checkMounts(req.mounts),
  };
}
