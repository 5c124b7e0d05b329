// Public entry point of @wrenn/control-plane.

export { openApiDocument } from "./api/openapi-document.js";
export { ConfigError, type ControlPlaneConfig, loadConfig, parseListen } from "./config/config.js";
export {
  type ControlPlane,
  createLogger,
  type StartOptions,
  startControlPlane,
} from "./control-plane.js";
export type { ReconcileReport } from "./lifecycle/reconciler.js";
export * from "./local-stack/index.js";
export type { Principal, Sandbox, SandboxState } from "./service/sandbox-types.js";
