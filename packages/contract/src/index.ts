// @wrenn/contract: everything that crosses a boundary between Wrenn's programs and its
// clients, defined once. Import only from here ("@wrenn/contract").

export * from "./envd-wire.js";
export * from "./errors/error-codes.js";
export * from "./errors/grpc-codes.js";
export * from "./host-states.js";
export * from "./limits.js";
export * from "./local-stack-state.js";
export * from "./request-trace.js";
export * from "./sandbox-states.js";
export * from "./schemas/e2b-template-schemas.js";
export * from "./schemas/event-schemas.js";
export * from "./schemas/io-schemas.js";
export * from "./schemas/key-and-host-schemas.js";
export * from "./schemas/sandbox-schemas.js";
export * from "./schemas/shared.js";
export * from "./schemas/snapshot-schemas.js";
export * from "./schemas/template-schemas.js";
export * from "./secrets.js";
export * from "./ssh-keys.js";
export * from "./validators/agent-create.js";
export * from "./validators/dockerfile.js";
export * from "./validators/egress.js";
export * from "./validators/egress-proxy.js";
export * from "./validators/egress-rules.js";
export * from "./validators/mounts.js";
export * from "./validators/sandbox-path.js";
export * from "./validators/scalars.js";
export * from "./validators/string-maps.js";
export * from "./validators/template-steps.js";
export * from "./validators/templates.js";
export * from "./validators/text.js";
export * from "./workspace-file.js";
export * from "./workspaces.js";
