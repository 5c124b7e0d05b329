// Public entry point: the control plane ↔ host agent service.
export * from "./gen/wrenn/hostagent/v1/hostagent_pb.js";

/**
 * Codes in Sandbox.error_reason, why a sandbox is in error: "oom" (its memory limit), "pids"
 * (its task limit), "crashed" (it stopped on its own otherwise), "interrupted" (an operation
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
