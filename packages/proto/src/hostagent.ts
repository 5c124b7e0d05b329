// Public entry point: the control plane ↔ host agent service.
export * from "./gen/wrenn/hostagent/v1/hostagent_pb.js";

// Sandbox.error_reason carries one of @wrenn/contract's SANDBOX_ERROR_REASONS.
