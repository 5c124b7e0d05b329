// For benchmarks that compare the agent with bare runsc: the same binary, platform and flags.
export { probeRunsc, type RunscBuild } from "./runtime/gvisor/runsc-build.js";
