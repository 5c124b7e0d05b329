import type { SandboxErrorReason } from "@wrenn/proto/hostagent";
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

/** States that an operation is moving the sandbox out of; each carries an op_deadline. */
export const IN_FLIGHT_STATES: readonly SandboxState[] = [
  "starting",
  "pausing",
  "resuming",
  "stopping",
];
/** The sandbox exists on its host (or may, for missing) and holds vcpus and memory. */
export const COMPUTE_STATES: readonly SandboxState[] = [
  "pending",
  "starting",
  "running",
  "pausing",
  "resuming",
  "stopping",
  "missing",
];
/** Everything but the end states holds disk. */
export const STORAGE_STATES: readonly SandboxState[] = [...COMPUTE_STATES, "paused", "hibernated"];
export const SUSPENDED_STATES: readonly SandboxState[] = ["paused", "hibernated"];

export interface Resources {
  vcpus: number;
  memoryMb: number;
  diskMb: number;
}

export interface EgressRules {
  /** With allowInternet, narrows egress to these CIDRs (when not empty). */
  allowOut: string[];
  /** Always blocked; wins over allowOut. */
  denyOut: string[];
}

export interface Sandbox {
  id: string;
  ownerId: string;
  apiKeyId: string;
  template: string;
  state: SandboxState;
  resources: Resources;
  metadata: Record<string, string>;
  envVarNames: string[];
  allowInternet: boolean;
  network: EgressRules;
  autoPause: boolean;
  timeoutSeconds: number;
  envdVersion: string | null;
  hostId: string | null;
  startedAt: Date;
  endAt: Date;
  stateChangedAt: Date;
  createdAt: Date;
  stoppedAt: Date | null;
  error: string | null;
  /** Why it is in error: oom, pids, crashed, interrupted, failed, lost. */
  errorReason: SandboxErrorReason | null;
}

/** A sandbox as its owner sees it, with the token needed to talk to envd. */
export interface OwnedSandbox extends Sandbox {
  envdAccessToken: string;
}

export interface Principal {
  keyId: string;
  ownerId: string;
  role: "admin" | "user";
  name: string;
}
