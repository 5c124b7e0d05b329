import { isIP } from "node:net";
import type { SandboxMountSpec } from "../hosts/host-client.js";
import { invalidRequest } from "./errors.js";
import { ENV_VAR_NAME_PATTERN, LIMITS, type SandboxDefaults, TEMPLATE_PATTERN } from "./limits.js";
import type { EgressRules, Resources } from "./sandbox-types.js";
import { checkText } from "./text-rules.js";

export interface CreateSandboxInput {
  template?: string;
  resources?: Partial<Resources>;
  metadata?: Record<string, string>;
  envVars?: Record<string, string>;
  timeoutSeconds?: number;
  autoPause?: boolean;
  allowInternet?: boolean;
  network?: Partial<EgressRules>;
  mounts?: Array<{ hostPath: string; path: string; readOnly?: boolean }>;
}

export interface CreateSandboxSpec {
  template: string;
  resources: Resources;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  timeoutSeconds: number;
  autoPause: boolean;
  allowInternet: boolean;
  network: EgressRules;
  mounts: SandboxMountSpec[];
}

const templatePattern = new RegExp(TEMPLATE_PATTERN);
const envNamePattern = new RegExp(ENV_VAR_NAME_PATTERN);

function integerIn(name: string, value: number, range: { min: number; max: number }): number {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw invalidRequest(`${name} must be an integer from ${range.min} to ${range.max}`);
  }
  return value;
}

export function checkTimeout(seconds: number, name = "timeout"): number {
  return integerIn(name, seconds, LIMITS.timeoutSeconds);
}

export function checkTemplate(template: string): string {
  if (template.length > LIMITS.templateLength || !templatePattern.test(template)) {
    throw invalidRequest(
      `template must match ${TEMPLATE_PATTERN} and be at most ${LIMITS.templateLength} characters`,
    );
  }
  return template;
}

function stringMap(
  name: string,
  value: Record<string, unknown> | undefined,
  limits: { entries: number; key: number; value: number; keyPattern?: RegExp },
): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidRequest(`${name} must be an object of strings`);
  }
  const entries = Object.entries(value);
  if (entries.length > limits.entries)
    throw invalidRequest(`${name} may have at most ${limits.entries} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (
      k.length === 0 ||
      k.length > limits.key ||
      (limits.keyPattern && !limits.keyPattern.test(k))
    ) {
      throw invalidRequest(`${name} has an invalid key ${JSON.stringify(k.slice(0, 40))}`);
    }
    if (typeof v !== "string" || v.length > limits.value) {
      throw invalidRequest(
        `${name}.${k.slice(0, 40)} must be a string of at most ${limits.value} characters`,
      );
    }
    checkText(`${name} key ${JSON.stringify(k.slice(0, 40))}`, k);
    checkText(`${name}.${k.slice(0, 40)}`, v);
    out[k] = v;
  }
  return out;
}

export function checkMetadata(value: Record<string, unknown> | undefined): Record<string, string> {
  return stringMap("metadata", value, {
    entries: LIMITS.metadataEntries,
    key: LIMITS.metadataKeyLength,
    value: LIMITS.metadataValueLength,
  });
}

const MAX_CIDRS = 256;

/** IPv4 or IPv6 addresses or CIDR blocks; names are not resolved by the host's egress filter. */
export function checkCidrs(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_CIDRS) {
    throw invalidRequest(`${name} must be a list of at most ${MAX_CIDRS} CIDRs`);
  }
  return value.map((entry) => {
    const [address, prefix, ...rest] = typeof entry === "string" ? entry.split("/") : [];
    const family = address === undefined ? 0 : isIP(address);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw invalidRequest(
        `${name} entries must be IP addresses or CIDRs, got ${JSON.stringify(String(entry).slice(0, 60))}`,
      );
    }
    return entry as string;
  });
}

/**
 * The service checks everything again even though the HTTP schemas already did: it is also
 * called by the admin UI and by tests, and it is where the rules live.
 */
export function normalizeCreate(
  input: CreateSandboxInput,
  defaults: SandboxDefaults,
): CreateSandboxSpec {
  const resources = input.resources ?? {};
  return {
    template: checkTemplate(input.template ?? defaults.template),
    resources: {
      vcpus: integerIn("vcpus", resources.vcpus ?? defaults.vcpus, LIMITS.vcpus),
      memoryMb: integerIn("memoryMb", resources.memoryMb ?? defaults.memoryMb, LIMITS.memoryMb),
      diskMb: integerIn("diskMb", resources.diskMb ?? defaults.diskMb, LIMITS.diskMb),
    },
    metadata: checkMetadata(input.metadata),
    envVars: stringMap("envVars", input.envVars, {
      entries: LIMITS.envVarEntries,
      key: LIMITS.envVarNameLength,
      value: LIMITS.envVarValueLength,
      keyPattern: envNamePattern,
    }),
    timeoutSeconds: checkTimeout(input.timeoutSeconds ?? defaults.timeoutSeconds),
    autoPause: input.autoPause ?? false,
    allowInternet: input.allowInternet ?? false,
    network: {
      allowOut: checkCidrs("network.allowOut", input.network?.allowOut),
      denyOut: checkCidrs("network.denyOut", input.network?.denyOut),
    },
    mounts: checkMounts(input.mounts),
  };
}

/** Shape only: which host directories may be mounted is the host agent's decision. */
function checkMounts(mounts: CreateSandboxInput["mounts"]): SandboxMountSpec[] {
  if (mounts === undefined) return [];
  if (!Array.isArray(mounts) || mounts.length > LIMITS.mounts) {
    throw invalidRequest(`mounts: at most ${LIMITS.mounts}`);
  }
  return mounts.map((m, i) => {
    for (const [field, value] of [
      ["hostPath", m.hostPath],
      ["path", m.path],
    ] as const) {
      if (
        typeof value !== "string" ||
        !value.startsWith("/") ||
        value.length > 4096 ||
        value.includes("\0")
      ) {
        throw invalidRequest(`mounts[${i}].${field} must be an absolute path`);
      }
    }
    return { hostPath: m.hostPath, path: m.path, readOnly: m.readOnly ?? false };
  });
}
