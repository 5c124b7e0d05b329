/**
 * A sandbox's states as the control plane stores and reports them, and the moves between
 * them. One table: the service's compare-and-set updates are checked against it, the E2B
 * routes and the admin pages group states with it, and the SDK types its answers with it.
 */
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

/**
 * Where each state may go next. Settlement (the host is the truth about what runs) explains
 * the less obvious entries: a sandbox caught mid-pause may turn out running, a paused one may
 * turn out running after a resume whose answer was lost, and `missing` (its host stopped
 * answering) is undone by whatever the host reports when it returns.
 */
export const SANDBOX_TRANSITIONS: Readonly<Record<SandboxState, readonly SandboxState[]>> = {
  pending: ["starting", "stopping", "stopped", "error"],
  starting: ["running", "paused", "stopping", "stopped", "error", "missing"],
  running: ["pausing", "paused", "stopping", "stopped", "error", "missing"],
  pausing: ["paused", "running", "stopping", "stopped", "error", "missing"],
  paused: ["resuming", "hibernated", "running", "stopping", "stopped", "error", "missing"],
  // A resume of a hibernated sandbox that no host could take leaves it hibernated.
  resuming: ["running", "paused", "hibernated", "stopping", "stopped", "error", "missing"],
  hibernated: ["resuming", "running", "paused", "stopping", "stopped", "error", "missing"],
  stopping: ["stopped", "error"],
  stopped: [],
  error: ["stopping", "stopped"],
  missing: ["running", "paused", "stopping", "stopped", "error"],
};

/** Staying put is not a move, so it is always allowed. */
export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return from === to || SANDBOX_TRANSITIONS[from].includes(to);
}

export function isSandboxState(value: unknown): value is SandboxState {
  return typeof value === "string" && (SANDBOX_STATES as readonly string[]).includes(value);
}

/** States that an operation is moving the sandbox out of; each carries a deadline. */
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
/** Every state but stopped: what a list shows unless asked for more. */
export const LIVE_STATES: readonly SandboxState[] = SANDBOX_STATES.filter((s) => s !== "stopped");

/**
 * E2B knows two states: everything alive that is not suspended reads as running, and ended
 * sandboxes (stopped, error, stopping) are not shown at all.
 */
export const E2B_STATE_GROUPS = {
  running: ["pending", "starting", "running", "pausing", "resuming", "missing"],
  paused: ["paused", "hibernated"],
} as const satisfies Record<string, readonly SandboxState[]>;

export function e2bStateOf(state: SandboxState): "running" | "paused" {
  return (E2B_STATE_GROUPS.paused as readonly SandboxState[]).includes(state)
    ? "paused"
    : "running";
}

/**
 * Why a sandbox is in state error (Sandbox.error_reason on the agent's wire, errorReason in
 * the REST API): "oom" (its memory limit), "pids" (its task limit), "crashed" (it stopped on its own otherwise), "interrupted" (an operation
 * on it was cut short, e.g. the agent died during a pause), "failed" (an operation on it
 * failed), "lost" (its host no longer has it; set by the control plane).
 */
export const SANDBOX_ERROR_REASONS = [
  "oom",
  "pids",
  "crashed",
  "interrupted",
  "failed",
  "lost",
] as const;
export type SandboxErrorReason = (typeof SANDBOX_ERROR_REASONS)[number];

export function isSandboxErrorReason(value: string): value is SandboxErrorReason {
  return (SANDBOX_ERROR_REASONS as readonly string[]).includes(value);
}

/**
 * How a stopped sandbox came to end (stopReason in the REST API): "destroyed" (someone asked:
 * the API, the CLI, an SDK or the admin UI), "expired" (its timeout ran out and it was not set
 * to pause). Recorded when it starts stopping; null while it has not been stopped.
 */
export const SANDBOX_STOP_REASONS = ["destroyed", "expired"] as const;
export type SandboxStopReason = (typeof SANDBOX_STOP_REASONS)[number];
