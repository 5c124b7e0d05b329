import type { Resources, SandboxErrorReason, SandboxState } from "@wrenn/contract";

// The states, their transitions and groups are the contract's (@wrenn/contract); these are
// the service's own shapes.
export {
  COMPUTE_STATES,
  IN_FLIGHT_STATES,
  type Resources,
  SANDBOX_STATES,
  type SandboxState,
  STORAGE_STATES,
  SUSPENDED_STATES,
} from "@wrenn/contract";

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
