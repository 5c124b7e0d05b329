export {
  acceptBothHttpVersions,
  type BothHttpVersions,
  type BothHttpVersionsOptions,
} from "./both-http-versions.js";
export {
  type DrainLimits,
  drainUnusedBody,
  settleEarlyAnswer,
  UNUSED_BODY_LIMITS,
} from "./early-answer.js";
export { type Http2Sessions, trackHttp2Sessions } from "./http2-sessions.js";
export { cutOnPurpose, installRelayRules } from "./relay-rules.js";
export { readTlsPair } from "./tls-pair.js";
export { onUpstreamConnected } from "./upstream-connected.js";
