// Public entry point of @wrenn/envd for other workspaces: the names of the wire extensions
// Wrenn adds on top of E2B's envd protocol. The agent itself is src/main.ts (bundled).
export {
  ENVD_REPLAY_FROM_HEADER as REPLAY_FROM_HEADER,
  ENVD_REPLAY_START_HEADER as REPLAY_START_HEADER,
} from "@wrenn/contract";
export { ENVD_VERSION } from "./version.js";
