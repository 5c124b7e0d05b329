// Public entry point: what envd says beyond E2B's wire contract, for Wrenn's own clients (the
// control plane). E2B's SDK ignores it. (To move to packages/contract with the other envd
// wire constants once that exists.)

/**
 * Header on an envd error (a Connect error's metadata, or a /files answer) naming why, where
 * the status alone is ambiguous: E2B's envd answers an unknown user with Unauthenticated / 401,
 * the same as a wrong access token, but one is the caller's mistake and the other ours.
 */
export const ENVD_ERROR_HEADER = "wrenn-envd-error";

/** The requested Linux user does not exist in the sandbox. */
export const ENVD_UNKNOWN_USER = "unknown_user";
