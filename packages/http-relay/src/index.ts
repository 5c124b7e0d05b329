export {
  type DrainLimits,
  drainUnusedBody,
  settleEarlyAnswer,
  UNUSED_BODY_LIMITS,
} from "./early-answer.js";
export { cutOnPurpose, installRelayRules } from "./relay-rules.js";
export { onUpstreamConnected } from "./upstream-connected.js";
