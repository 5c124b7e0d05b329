// What the API says about a sandbox, in E2B's field names (sandboxId, templateId, cpuCount,
// memoryMB, ...) plus Wrenn's own (resources, network, autoPause, hostId, ...).
import { Shape } from "./json-shape.js";

export const SANDBOX_STATES = [
  "pending",
  "starting",
  "running",
  "pausing",
  "paused",
  "resuming",
  "hibernated",
  "stopping",
  "stopped",
  "error",
  "missing",
] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

export interface SandboxInfo {
  sandboxId: string;
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
  network: { allowOut: string[]; denyOut: string[] };
  autoPause: boolean;
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
}

/** A sandbox as GET /v1/sandboxes/{id} and POST /v1/sandboxes answer: with its envd token. */
export interface OwnedSandboxInfo extends SandboxInfo {
  envdAccessToken: string;
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

export function parseSandbox(value: unknown, where = "sandbox"): SandboxInfo {
  const s = Shape.of(value, where);
  const state = s.string("state");
  const resources = s.object("resources");
  const network = s.object("network");
  return {
    sandboxId: s.string("id"),
    templateId: s.string("template"),
    // Not checked against SANDBOX_STATES: a newer control plane may know more states.
    state: state as SandboxState,
    metadata: s.stringMap("metadata"),
    startedAt: s.date("startedAt"),
    endAt: s.date("endAt"),
    cpuCount: resources.number("vcpus"),
    memoryMB: resources.number("memoryMb"),
    diskSizeMB: resources.number("diskMb"),
    envdVersion: s.optionalString("envdVersion"),
    allowInternetAccess: s.boolean("allowInternet"),
    network: { allowOut: network.stringArray("allowOut"), denyOut: network.stringArray("denyOut") },
    autoPause: s.boolean("autoPause"),
    timeoutSeconds: s.number("timeoutSeconds"),
    envVarNames: s.stringArray("envVarNames"),
    hostId: s.optionalString("hostId"),
    createdAt: s.date("createdAt"),
    stateChangedAt: s.date("stateChangedAt"),
    stoppedAt: s.optionalDate("stoppedAt"),
    error: s.optionalString("error"),
    errorReason: s.optionalString("errorReason"),
  };
}

export function parseOwnedSandbox(value: unknown, where = "sandbox"): OwnedSandboxInfo {
  return {
    ...parseSandbox(value, where),
    envdAccessToken: Shape.of(value, where).string("envdAccessToken"),
  };
}

export function parseStats(value: unknown): SandboxMetrics {
  const s = Shape.of(value, "stats");
  return {
    timestamp: s.date("timestamp"),
    cpuCount: s.number("cpuCount"),
    cpuUsedPct: s.number("cpuUsedPct"),
    memUsed: s.number("memUsedBytes"),
    memTotal: s.number("memTotalBytes"),
    memCache: s.number("memCacheBytes"),
    diskUsed: s.number("diskUsedBytes"),
    diskTotal: s.number("diskTotalBytes"),
  };
}
