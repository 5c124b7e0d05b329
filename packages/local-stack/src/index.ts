// `npm start` and the CLI's `wrenn up`: the control plane and a host agent on this machine.
export { AGENT_MAIN, AgentChild, type AgentChildOptions, buildTemplate } from "./agent-child.js";
export {
  banner,
  type LocalStack,
  type LocalStackOptions,
  localStackOptionsFromEnv,
  REPO_ROOT,
  type StopReport,
  sandboxProcesses,
  startLocalStack,
  type WelcomeRun,
} from "./local-stack.js";
