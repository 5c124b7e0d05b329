import type { AgentSandboxStats } from "../../hosts/host-client.js";
import { trafficTokenOf } from "../../secrets/traffic-token.js";
import { egressProxyField } from "../../service/egress-proxy-seal.js";
import type { OwnedSandbox, Sandbox } from "../../service/sandbox-types.js";
import type { ApiKeyRecord } from "../../store/api-key-store.js";
import type { HostRecord } from "../../store/host-store.js";
import type { KeyUsage } from "../../store/sandbox-usage-store.js";

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function sandboxView(s: Sandbox) {
  return {
    id: s.id,
    name: s.name,
    state: s.state,
    template: s.template,
    resources: s.resources,
    metadata: s.metadata,
    envVarNames: s.envVarNames,
    allowInternet: s.allowInternet,
    network: {
      allowOut: s.network.allowOut,
      denyOut: s.network.denyOut,
      ...egressProxyField(s.network.egressProxy),
      // As written: placeholders, never the secrets' values.
      ...(s.network.rules ? { rules: s.network.rules } : {}),
    },
    allowPublicTraffic: s.network.allowPublicTraffic !== false,
    autoPause: s.autoPause,
    autoResume: s.autoResume,
    timeoutSeconds: s.timeoutSeconds,
    envdVersion: s.envdVersion,
    hostId: s.hostId,
    startedAt: s.startedAt.toISOString(),
    endAt: s.endAt.toISOString(),
    stateChangedAt: s.stateChangedAt.toISOString(),
    createdAt: s.createdAt.toISOString(),
    stoppedAt: iso(s.stoppedAt),
    error: s.error,
    errorReason: s.state === "error" ? s.errorReason : null,
    stopReason: s.state === "stopped" || s.state === "stopping" ? s.stopReason : null,
  };
}

export function ownedSandboxView(s: OwnedSandbox) {
  return {
    ...sandboxView(s),
    envdAccessToken: s.envdAccessToken,
    trafficAccessToken:
      s.network.allowPublicTraffic === false ? trafficTokenOf(s.envdAccessToken) : null,
  };
}

export function statsView(s: AgentSandboxStats) {
  return { ...s, timestamp: s.timestamp.toISOString() };
}

export function apiKeyView(k: ApiKeyRecord) {
  return {
    id: k.id,
    ownerId: k.ownerId,
    ownerName: k.ownerName,
    name: k.name,
    role: k.role,
    pools: k.pools,
    createRatePerMinute: k.createRatePerMinute,
    createdBy: k.createdBy,
    createdAt: k.createdAt.toISOString(),
    revokedAt: iso(k.revokedAt),
  };
}

export function usageView(u: KeyUsage) {
  return { vcpus: u.vcpus, memoryMb: u.memoryMb, storageMb: u.storageMb };
}

export function hostView(h: HostRecord) {
  return {
    id: h.id,
    url: h.url,
    status: h.status,
    kind: h.kind,
    agentHostId: h.agentHostId,
    hostname: h.hostname,
    version: h.version,
    instanceId: h.instanceId,
    runtimes: h.runtimes,
    capacity:
      h.capacityTotal && h.capacityUsed ? { total: h.capacityTotal, used: h.capacityUsed } : null,
    sandboxesByState: h.sandboxesByState,
    templates: h.templates.map((t) => ({
      name: t.name,
      version: t.version,
      envdVersion: t.envdVersion,
    })),
    lastSeenAt: iso(h.lastSeenAt),
    lastError: h.lastError,
    drained: h.drained,
  };
}
