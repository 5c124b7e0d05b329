import type { FakeHostAgent } from "./fake-host-agent.js";

/** A registered host's heartbeat as wrenn-agent sends it (HostHeartbeatBody), for a fake agent. */
export function heartbeatBody(agent: FakeHostAgent) {
  return {
    instanceId: agent.instanceId,
    stateVersion: String(agent.stateVersion),
    startedAt: agent.startedAt.toISOString(),
    hostname: "fake",
    version: "0.1.0",
    runtimes: ["gvisor"],
    capacity: {
      total: { vcpus: 4, memoryMb: agent.memoryMb, diskMb: agent.diskMb },
      used: { vcpus: 0, memoryMb: 0, diskMb: 0 },
    },
    sandboxesByState: {},
    templates: agent.templates.map((name) => ({
      name,
      version: "1",
      envdVersion: agent.envdVersion,
      sizeBytes: 1,
      builtAt: null,
    })),
  };
}
