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
  /**
   * How long a rotated-away refresh token still works: the agent stores the new one only once
   * the answer reaches it, so an answer lost on the way (or a crash before the write) must not
   * lock the host out. After it, the old token is a replay and refused.
   */
  refreshGraceSeconds: 120,
} as const;

/** How long a registered host may stay silent before it is unreachable, and how often it beats. */
export const HOST_HEARTBEAT = {
  intervalSeconds: 5,
  silenceSeconds: 90,
  /**
   * How long an agent goes on without the control plane (unreachable, or refusing its refresh)
   * before it pauses every sandbox it holds (WRENN_CONTROL_PLANE_GRACE_S). Nothing is lost: the
   * control plane reconciles them to `paused` when it is back, and they resume normally.
   */
  agentGraceSeconds: 300,
} as const;

/**
 * What a drain answers, the CLI prints and docs/hosts.md says: paused sandboxes stay where they
 * are until hibernation to object storage exists.
 */
export const HOST_DRAIN_NOTE =
  "the host takes no new sandboxes; those it holds keep running, and paused ones are hibernated to the artifact store in the background (a resume then brings each to another host)";
