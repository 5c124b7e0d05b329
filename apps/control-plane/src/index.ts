// Public entry point of @wrenn/control-plane.

export { openApiDocument } from "./api/openapi-document.js";
export { E2B_API_KEY_PATTERN, generateApiKey } from "./auth/api-key.js";
export {
  ConfigError,
  type ControlPlaneConfig,
  egressLine,
  loadConfig,
  parseListen,
} from "./config/config.js";
export {
  type ControlPlane,
  createLogger,
  type StartOptions,
  startControlPlane,
} from "./control-plane.js";
export type { ReconcileReport } from "./lifecycle/reconciler.js";
export type { Principal, Sandbox, SandboxState } from "./service/sandbox-types.js";
