// What other programs may reuse: the profile rules and the command tree (the bin is main.js).

export { listProfiles, loadProfile, profileFromToml } from "./config/profile-file.js";
export { BUILTIN_PROFILES, type RunProfile } from "./config/run-profile.js";
export { EXIT } from "./exit-codes.js";
export { buildProgram } from "./program.js";
