/**
 * A host's states as the control plane stores and reports them. `unknown`: registered or
 * configured, not heard from yet. `online`: heard from recently. `unreachable`: silent for
 * longer than the control plane allows (a polled host: several failed contacts in a row; a
 * registered host: no heartbeat within the silence window); its sandboxes are `missing` until
 * it returns, when they are reconciled to what the host reports.
 */
export const HOST_STATES = ["unknown", "online", "unreachable"] as const;
export type HostState = (typeof HOST_STATES)[number];

/**
 * How a host came to the control plane: `configured` (WRENN_AGENT_URL; the control plane polls
 * it) or `registered` (joined with a registration token; it heartbeats to the control plane).
 */
export const HOST_KINDS = ["configured", "registered"] as const;
export type HostKind = (typeof HOST_KINDS)[number];

/** Placement policies across registered hosts (WRENN_SCHEDULER). */
export const SCHEDULER_POLICIES = ["least-loaded", "round-robin"] as const;
export type SchedulerPolicy = (typeof SCHEDULER_POLICIES)[number];

/** Lifetimes of what a host holds, in seconds (the control plane may shorten them for tests). */
export const HOST_TOKEN_LIFETIMES = {
  /** A registration token an admin created, until it is used. */
  registrationSeconds: 24 * 3600,
  /** The JWT an agent sends with every heartbeat. */
  jwtSeconds: 7 * 24 * 3600,
  /** The refresh token that gets it a new JWT (rotated at every refresh). */
  refreshSeconds: 60 * 24 * 3600,
} as const;

/** How long a registered host may stay silent before it is unreachable, and how often it beats. */
export const HOST_HEARTBEAT = {
  intervalSeconds: 5,
  silenceSeconds: 90,
} as const;
