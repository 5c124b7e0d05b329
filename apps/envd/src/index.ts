// Public entry point of @wrenn/envd for other workspaces: the names of the wire extensions
// Wrenn adds on top of E2B's envd protocol. The agent itself is src/main.ts (bundled).
export { REPLAY_FROM_HEADER, REPLAY_START_HEADER } from "./process/replay-headers.js";
export { ENVD_VERSION } from "./version.js";
