import {
  checkEgressPolicy,
  checkEnvVars,
  checkMetadata,
  checkMounts,
  checkResources,
  checkSandboxName,
  checkTemplateName,
  checkTimeout,
  type EgressProxyConfig,
} from "@wrenn/contract";
import type { SandboxMountSpec } from "../hosts/host-client.js";
import { invalidRequest, validated } from "./errors.js";
import type { SandboxDefaults } from "./limits.js";
import type { EgressRules, Resources } from "./sandbox-types.js";
import type { SnapshotSource } from "./snapshot-service.js";

export interface CreateSandboxInput {
  name?: string;
  template?: string;
  resources?: Partial<Resources>;
  metadata?: Record<string, string>;
  envVars?: Record<string, string>;
  timeoutSeconds?: number;
  autoPause?: boolean;
  autoResume?: boolean;
  allowInternet?: boolean;
  network?: Omit<Partial<EgressRules>, "allowPublicTraffic" | "egressProxy" | "rules"> & {
    allowPublicTraffic?: boolean;
    /** Both checked by the contract (checkEgressPolicy). */
    egressProxy?: unknown;
    rules?: unknown;
  };
  mounts?: Array<{ hostPath: string; path: string; readOnly?: boolean }>;
  /** Restore this snapshot (its template, sizes and host win over the input's). */
  fromSnapshot?: SnapshotSource;
}

export interface CreateSandboxSpec {
  name: string | null;
  template: string;
  resources: Resources;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  timeoutSeconds: number;
  autoPause: boolean;
  autoResume: boolean;
  allowInternet: boolean;
  /** Without its egressProxy: that one is sealed before it is stored. */
  network: EgressRules;
  egressProxy?: EgressProxyConfig;
  mounts: SandboxMountSpec[];
}

/**
 * The service checks everything again even though the HTTP schemas already did: it is also
 * called by the admin UI, the E2B routes and tests. The rules are the contract's validators,
 * the same ones the host agent (and the fake agent) run.
 */
export function normalizeCreate(
  input: CreateSandboxInput,
  defaults: SandboxDefaults,
): CreateSandboxSpec {
  return validated(() => {
    const resources = input.resources ?? {};
    return {
      name: input.name === undefined ? null : checkSandboxName(input.name),
      template: checkTemplateName(input.template ?? defaults.template),
      resources: checkResources({
        vcpus: resources.vcpus ?? defaults.vcpus,
        memoryMb: resources.memoryMb ?? defaults.memoryMb,
        diskMb: resources.diskMb ?? defaults.diskMb,
      }),
      metadata: checkMetadata(input.metadata),
      envVars: checkEnvVars(input.envVars),
      timeoutSeconds: checkTimeout(input.timeoutSeconds ?? defaults.timeoutSeconds),
      autoPause: input.autoPause ?? false,
      autoResume: checkAutoResume(input),
      ...egressOf(input, defaults),
      mounts: checkMounts(
        input.mounts?.map((m) => ({
          hostPath: m?.hostPath,
          sandboxPath: m?.path,
          readOnly: m?.readOnly ?? false,
        })),
      ).map((m) => ({ hostPath: m.hostPath, path: m.sandboxPath, readOnly: m.readOnly })),
    };
  });
}

/**
 * A sandbox's egress rules (create, or a whole replacement by updateNetwork): the contract's
 * EgressPolicy, with the operator's default where the caller left internet access unsaid.
 */
export function egressOf(
  input: {
    allowInternet?: boolean;
    network?: Omit<Partial<EgressRules>, "allowPublicTraffic" | "egressProxy" | "rules"> & {
      allowPublicTraffic?: boolean;
      /** Both checked by the contract (checkEgressPolicy). */
      egressProxy?: unknown;
      rules?: unknown;
    };
  },
  defaults: Pick<SandboxDefaults, "allowInternet">,
): { allowInternet: boolean; network: EgressRules; egressProxy?: EgressProxyConfig } {
  const { allowInternet, allowOut, denyOut, egressProxy, rules } = checkEgressPolicy({
    allowInternet: input.allowInternet ?? defaults.allowInternet,
    allowOut: input.network?.allowOut,
    denyOut: input.network?.denyOut,
    egressProxy: input.network?.egressProxy,
    rules: input.network?.rules,
  });
  const inbound = input.network?.allowPublicTraffic === false ? { allowPublicTraffic: false } : {};
  return {
    allowInternet,
    network: { allowOut, denyOut, ...inbound, ...(rules ? { rules } : {}) } as EgressRules,
    ...(egressProxy ? { egressProxy } : {}),
  };
}

/** As E2B: waking on traffic is for a sandbox that pauses at its end time instead of ending. */
function checkAutoResume(input: CreateSandboxInput): boolean {
  if (input.autoResume === true && input.autoPause !== true) {
    throw invalidRequest(
      "autoResume needs autoPause: only a sandbox that pauses at its end time can be woken by traffic (E2B: lifecycle { onTimeout: 'pause', autoResume: true })",
    );
  }
  return input.autoResume === true;
}
