// One table of creates as the host agent receives them, with what the agent must answer. The
// real wrenn-agent (tests/host-agent/create-contract.test.ts) and the control plane's fake
// agent (apps/control-plane/src/testing/fake-host-agent.test.ts) both run it, so the fake
// accepts exactly what the real agent accepts.
import { ERROR_CODE_HEADER } from "../envd-wire.js";
import type { ErrorCode } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";

/** The create request's fields (hostagent.proto CreateSandboxRequest), sandbox id aside. */
export interface AgentCreateCaseRequest {
  template?: string;
  resources?: { vcpus?: number; memoryMb?: number; diskMb?: number };
  envVars?: Record<string, string>;
  metadata?: Record<string, string>;
  network?: { allowInternet?: boolean; allowOut?: string[]; denyOut?: string[] };
  mounts?: { hostPath: string; sandboxPath: string; readOnly: boolean }[];
  runtime?: string;
}

export interface AgentCreateCase {
  name: string;
  request: AgentCreateCaseRequest;
  /** The id to create; default: a fresh one. "taken" reuses the first accepted case's id. */
  sandboxId?: string | "taken";
  /** "accepted", or the contract code of the refusal. */
  expect: "accepted" | ErrorCode;
  /** A refusal's message must match this too. */
  message?: RegExp;
}

const entries = (n: number, value = "v") =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));
const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
const mount = (sandboxPath: string, hostPath = "/tmp") => ({
  hostPath,
  sandboxPath,
  readOnly: true,
});

/** Accepted cases first: each boots a real sandbox on the real agent, so they are few. */
export const AGENT_CREATE_CASES: readonly AgentCreateCase[] = [
  { name: "the defaults", request: { template: "base" }, expect: "accepted" },
  {
    name: "no template means base; sizes, maps and egress lists at their limits",
    request: {
      template: "",
      resources: { vcpus: 2, memoryMb: 768, diskMb: 1024 },
      metadata: entries(LIMITS.metadataEntries, "m".repeat(LIMITS.metadataValueLength)),
      envVars: { ...entries(8), LONG: "e".repeat(LIMITS.envVarValueLength) },
      network: {
        allowInternet: false,
        allowOut: ["10.0.0.0/8", " 1.1.1.1/32 ", "0.0.0.0/0", "Example.com", "*.example.org"],
        denyOut: cidrs(LIMITS.egressEntries),
      },
    },
    expect: "accepted",
  },

  { name: "a malformed sandbox id", sandboxId: "sb-XYZ", request: {}, expect: "invalid_request" },
  { name: "an id already in use", sandboxId: "taken", request: {}, expect: "already_exists" },
  { name: "a template name with ..", request: { template: "../etc" }, expect: "invalid_request" },
  { name: "a malformed runtime name", request: { runtime: "GV/isor" }, expect: "invalid_request" },
  {
    name: "a runtime this host does not have",
    request: { runtime: "no-such-runtime" },
    expect: "runtime_not_available",
    message: /runtime no-such-runtime is not available on this host/,
  },
  {
    name: "a template name too long",
    request: { template: "t".repeat(LIMITS.templateLength + 1) },
    expect: "invalid_request",
  },
  { name: "a template not built", request: { template: "nope" }, expect: "template_not_found" },
  {
    name: "too many vcpus",
    request: { resources: { vcpus: LIMITS.vcpus.max + 1 } },
    expect: "invalid_request",
  },
  {
    name: "too little memory",
    request: { resources: { memoryMb: LIMITS.memoryMb.min - 1 } },
    expect: "invalid_request",
  },
  {
    name: "too much disk",
    request: { resources: { diskMb: LIMITS.diskMb.max + 1 } },
    expect: "invalid_request",
  },
  {
    name: "too many metadata entries",
    request: { metadata: entries(LIMITS.metadataEntries + 1) },
    expect: "invalid_request",
  },
  {
    name: "a metadata key too long",
    request: { metadata: { ["k".repeat(LIMITS.metadataKeyLength + 1)]: "v" } },
    expect: "invalid_request",
  },
  {
    name: "a metadata value too long",
    request: { metadata: { k: "v".repeat(LIMITS.metadataValueLength + 1) } },
    expect: "invalid_request",
  },
  {
    name: "an env var name with =",
    request: { envVars: { "A=B": "1" } },
    expect: "invalid_request",
  },
  {
    name: "an env var value too long",
    request: { envVars: { A: "v".repeat(LIMITS.envVarValueLength + 1) } },
    expect: "invalid_request",
  },
  {
    name: "an IPv6 egress rule",
    request: { network: { allowInternet: true, denyOut: ["fd00::/8"] } },
    expect: "egress_ipv6_unsupported",
    message: /IPv6 egress rules are not supported/,
  },
  {
    name: "too many egress rules",
    request: { network: { allowInternet: true, denyOut: cidrs(LIMITS.egressEntries + 1) } },
    expect: "invalid_request",
  },
  {
    name: "an egress CIDR with host bits set",
    request: { network: { allowInternet: true, allowOut: ["10.0.0.1/8"] } },
    expect: "invalid_request",
    message: /host bits/,
  },
  {
    name: "a deny rule by name",
    request: { network: { allowInternet: true, denyOut: ["example.com"] } },
    expect: "egress_domains_unsupported",
    message: /domain names are allowed in allowOut only/,
  },
  {
    name: "a malformed host name in allowOut",
    request: { network: { allowInternet: false, allowOut: ["*.exa mple.com"] } },
    expect: "invalid_request",
    message: /not an IPv4 address, CIDR or host name/,
  },
  {
    name: "an egress prefix past 32",
    request: { network: { allowInternet: true, allowOut: ["10.0.0.0/33"] } },
    expect: "invalid_request",
  },
  {
    name: "a mount over /proc",
    request: { mounts: [mount("/proc/x")] },
    expect: "invalid_request",
  },
  {
    name: "a relative mount path",
    request: { mounts: [mount("data")] },
    expect: "invalid_request",
  },
  {
    name: "a relative host path",
    request: { mounts: [mount("/data", "tmp")] },
    expect: "invalid_request",
  },
  {
    name: "two mounts at one place",
    request: { mounts: [mount("/data"), mount("/data/../data")] },
    expect: "invalid_request",
  },
  {
    name: "too many mounts",
    request: { mounts: Array.from({ length: LIMITS.mounts + 1 }, (_, i) => mount(`/m${i}`)) },
    expect: "invalid_request",
  },
  {
    name: "a well-formed mount on an agent without mount roots",
    request: { mounts: [mount("/data")] },
    expect: "mount_not_allowed",
  },
];

/** What a create came to: accepted, or refused with a contract code (null: none sent). */
export type AgentCreateOutcome =
  | { accepted: true }
  | { accepted: false; code: string | null; message: string };

/** Reads a Connect error (structurally, so this module needs no Connect dependency). */
export function outcomeOfError(error: unknown): AgentCreateOutcome {
  const e = error as { metadata?: { get(name: string): string | null }; rawMessage?: string };
  return {
    accepted: false,
    code: e.metadata?.get(ERROR_CODE_HEADER) ?? null,
    message: e.rawMessage ?? String(error),
  };
}

/**
 * Runs the table through `create` (a HostAgentService client's createSandbox, given the full
 * request) and returns each case's outcome. `newId` hands out fresh sandbox ids.
 */
export async function runAgentCreateCases(
  create: (request: AgentCreateCaseRequest & { sandboxId: string }) => Promise<unknown>,
  newId: () => string,
): Promise<{ case: AgentCreateCase; sandboxId: string; outcome: AgentCreateOutcome }[]> {
  const results = [];
  let taken: string | undefined;
  for (const c of AGENT_CREATE_CASES) {
    const sandboxId = c.sandboxId === "taken" ? (taken ?? newId()) : (c.sandboxId ?? newId());
    let outcome: AgentCreateOutcome;
    try {
      await create({ ...c.request, sandboxId });
      outcome = { accepted: true };
      taken ??= sandboxId;
    } catch (error) {
      outcome = outcomeOfError(error);
    }
    results.push({ case: c, sandboxId, outcome });
  }
  return results;
}

/**
 * Where the outcomes differ from the table, one line per case (empty: all as the table says):
 * a wrong acceptance or refusal, another code, or a refusal message that does not say what the
 * table requires.
 */
export function tableMismatches(
  results: { case: AgentCreateCase; outcome: AgentCreateOutcome }[],
): string[] {
  const out: string[] = [];
  for (const { case: c, outcome } of results) {
    const got = outcome.accepted ? "accepted" : `refused ${outcome.code ?? "without a code"}`;
    const want = c.expect === "accepted" ? "accepted" : `refused ${c.expect}`;
    if (got !== want) {
      out.push(`${c.name}: ${got}, want ${want}${outcome.accepted ? "" : ` (${outcome.message})`}`);
    } else if (!outcome.accepted && c.message && !c.message.test(outcome.message)) {
      out.push(`${c.name}: message ${JSON.stringify(outcome.message)} does not match ${c.message}`);
    }
  }
  return out;
}
