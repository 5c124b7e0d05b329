// What the API says about a sandbox, in E2B's field names (sandboxId, templateId, cpuCount,
// memoryMB, ...) plus Wrenn's own (resources, network, autoPause, hostId, ...).

import {
  checkEgressHeaderRules,
  type EgressHeaderRules,
  type OwnedSandbox as OwnedWireSandbox,
  type SandboxState,
  type Sandbox as WireSandbox,
  type SandboxStats as WireStats,
} from "@wrenn/contract";
import { Shape } from "./json-shape.js";

// The states and their transitions are the contract's; the SDK reports them as they are.
export { SANDBOX_STATES, SANDBOX_TRANSITIONS, type SandboxState } from "@wrenn/contract";

/** A field of the API's sandbox, by the contract's name (a rename there fails to compile here). */
const wire = <K extends keyof WireSandbox>(key: K) => key;
const stat = <K extends keyof WireStats>(key: K) => key;

export interface SandboxInfo {
  sandboxId: string;
  /** Your name for it (usable wherever its id is), if it was given one. */
  name: string | undefined;
  templateId: string;
  state: SandboxState;
  metadata: Record<string, string>;
  startedAt: Date;
  /** When the sandbox is destroyed (or paused, with autoPause) unless extended. */
  endAt: Date;
  cpuCount: number;
  memoryMB: number;
  diskSizeMB: number;
  /** Version of envd inside the sandbox (null before it first answered). */
  envdVersion: string | undefined;
  allowInternetAccess: boolean;
  network: {
    allowOut: string[];
    denyOut: string[];
    /** The SOCKS5 proxy its allowed TCP goes through (the password is never returned). */
    egressProxy?: { address: string; username?: string };
    /** `rules` as written (placeholders, never secret values); absent when there are none. */
    rules?: EgressHeaderRules;
  };
  /** false: its ports need {@link OwnedSandboxInfo.trafficAccessToken} (set at create). */
  allowPublicTraffic: boolean;
  autoPause: boolean;
  /** Traffic through the proxy to it while paused resumes it. */
  autoResume: boolean;
  /** The lifetime the sandbox was created with, in seconds. */
  timeoutSeconds: number;
  /** Names of the env vars it was created with (values are never stored). */
  envVarNames: string[];
  hostId: string | undefined;
  createdAt: Date;
  stateChangedAt: Date;
  stoppedAt: Date | undefined;
  error: string | undefined;
  /**
   * Why the sandbox is in state error: "oom" (out of its memory), "pids" (its task limit),
   * "crashed", "interrupted" (an operation on it was cut short), "failed", "lost".
   */
  errorReason: string | undefined;
  /** How a stopped sandbox ended: "destroyed" or "expired" (then `endAt` is when). */
  stopReason: string | undefined;
}

/** A sandbox as GET /v1/sandboxes/{id} and POST /v1/sandboxes answer: with its envd token. */
export interface OwnedSandboxInfo extends SandboxInfo {
  envdAccessToken: string;
  /** Send as the `e2b-traffic-access-token` header to reach its ports; undefined when public. */
  trafficAccessToken: string | undefined;
}

export interface SandboxMetrics {
  timestamp: Date;
  cpuCount: number;
  cpuUsedPct: number;
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}

function egressProxyOf(p: Shape | undefined) {
  if (!p) return {};
  const username = p.optionalString("username");
  return {
    egressProxy: { address: p.string("address"), ...(username === undefined ? {} : { username }) },
  };
}

export function parseSandbox(value: unknown, where = "sandbox"): SandboxInfo {
  const s = Shape.of(value, where);
  const state = s.string(wire("state"));
  const resources = s.object(wire("resources"));
  const network = s.object(wire("network"));
  return {
    sandboxId: s.string(wire("id")),
    name: s.optionalString(wire("name")),
    templateId: s.string(wire("template")),
    // Not checked against SANDBOX_STATES: a newer control plane may know more states.
    state: state as SandboxState,
    metadata: s.stringMap(wire("metadata")),
    startedAt: s.date(wire("startedAt")),
    endAt: s.date(wire("endAt")),
    cpuCount: resources.number("vcpus"),
    memoryMB: resources.number("memoryMb"),
    diskSizeMB: resources.number("diskMb"),
    envdVersion: s.optionalString(wire("envdVersion")),
    allowInternetAccess: s.boolean(wire("allowInternet")),
    network: {
      allowOut: network.stringArray("allowOut"),
      denyOut: network.stringArray("denyOut"),
      ...egressProxyOf(network.optionalObject("egressProxy")),
      ...rulesOf(value),
    },
    allowPublicTraffic: s.boolean(wire("allowPublicTraffic")),
    autoPause: s.boolean(wire("autoPause")),
    autoResume: s.boolean(wire("autoResume")),
    timeoutSeconds: s.number(wire("timeoutSeconds")),
    envVarNames: s.stringArray(wire("envVarNames")),
    hostId: s.optionalString(wire("hostId")),
    createdAt: s.date(wire("createdAt")),
    stateChangedAt: s.date(wire("stateChangedAt")),
    stoppedAt: s.optionalDate(wire("stoppedAt")),
    error: s.optionalString(wire("error")),
    errorReason: s.optionalString(wire("errorReason")),
    stopReason: s.optionalString(wire("stopReason")),
  };
}

export function parseOwnedSandbox(value: unknown, where = "sandbox"): OwnedSandboxInfo {
  const s = Shape.of(value, where);
  return {
    ...parseSandbox(value, where),
    envdAccessToken: s.string("envdAccessToken" satisfies keyof OwnedWireSandbox),
    trafficAccessToken: s.optionalString("trafficAccessToken" satisfies keyof OwnedWireSandbox),
  };
}

export function parseStats(value: unknown): SandboxMetrics {
  const s = Shape.of(value, "stats");
  return {
    timestamp: s.date(stat("timestamp")),
    cpuCount: s.number(stat("cpuCount")),
    cpuUsedPct: s.number(stat("cpuUsedPct")),
    memUsed: s.number(stat("memUsedBytes")),
    memTotal: s.number(stat("memTotalBytes")),
    memCache: s.number(stat("memCacheBytes")),
    diskUsed: s.number(stat("diskUsedBytes")),
    diskTotal: s.number(stat("diskTotalBytes")),
  };
}

/** network.rules as the server sent them, checked by the contract's rules. */
function rulesOf(value: unknown): { rules?: EgressHeaderRules } {
  const raw = (value as { network?: { rules?: unknown } }).network?.rules;
  const rules = raw === undefined ? undefined : checkEgressHeaderRules("network.rules", raw);
  return rules ? { rules } : {};
}
