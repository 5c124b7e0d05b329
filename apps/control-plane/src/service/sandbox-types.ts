import type {
  EgressHeaderRules,
  Resources,
  SandboxErrorReason,
  SandboxState,
  SandboxStopReason,
} from "@wrenn/contract";

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

/** E2B's semantics, the contract's EgressPolicy: allowOut wins; allowInternet sits beside. */
export interface EgressRules {
  /** Reachable whatever denyOut and allowInternet say. */
  allowOut: string[];
  /** With allowInternet, not reachable unless allowOut lists it. */
  denyOut: string[];
  /**
   * Inbound, stored beside the egress lists: false means a sandbox port reached by its host name
   * needs the traffic access token (E2B's allowPublicTraffic; absent = true, anyone with the URL).
   */
  allowPublicTraffic?: false;
  /** E2B's egressProxy (SOCKS5), its password sealed (see egress-proxy-seal.ts). */
  egressProxy?: StoredEgressProxy;
  /**
   * Header rules per domain as the caller wrote them (E2B's network.rules): placeholders kept,
   * never their values; filled in only on the way to the agent (resolveEgressRules).
   */
  rules?: EgressHeaderRules;
}

/** An egressProxy as stored: never the password in clear. */
export interface StoredEgressProxy {
  address: string;
  username?: string;
  passwordSealed?: string;
}

export interface Sandbox {
  id: string;
  /** The owner's name for it (unique among their live sandboxes), or null. */
  name: string | null;
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
  /** Traffic through the proxy to it while paused resumes it (E2B's lifecycle.autoResume). */
  autoResume: boolean;
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
  /** How it ended, once it is stopping or stopped: destroyed or expired. */
  stopReason: SandboxStopReason | null;
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
  /**
   * Which owners' sandboxes the caller reaches. An API key reaches its own owner's, whatever its
   * role (the /v1 and E2B APIs are per owner); the admin UI's session asks for every owner's,
   * which the sandbox service grants to an admin alone (ownerScope in sandbox-service-core.ts).
   */
  reach?: "all-owners";
}

/**
 * The owner a principal's sandbox calls are confined to; undefined for an admin that reaches
 * every owner. The one place this is decided.
 */
export function ownerScope(principal: Principal): string | undefined {
  return principal.reach === "all-owners" && principal.role === "admin"
    ? undefined
    : principal.ownerId;
}
