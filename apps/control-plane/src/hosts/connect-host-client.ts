import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import tls from "node:tls";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AGENT_TOKEN_HEADER,
  ERROR_CODE_HEADER,
  egressProxyToWire,
  egressRulesToWire,
  FILES_RESCUE_LIMITS,
  FORWARD_PORT_HEADER,
  FORWARD_SANDBOX_HEADER,
  isErrorCode,
  isSandboxErrorReason,
} from "@wrenn/contract";
import {
  type Capacity,
  HostAgentService,
  PauseMode,
  type Sandbox as ProtoSandbox,
  SandboxState as ProtoState,
  ReadFormat,
} from "@wrenn/proto/hostagent";
import type { HostCapacity } from "../store/host-store.js";
import {
  type AgentSandbox,
  type AgentSandboxState,
  type ForwardTarget,
  type HostClient,
  HostError,
  type HostErrorKind,
} from "./host-client.js";

export interface ConnectHostClientOptions {
  url: string;
  token?: string;
  /**
   * PEM certificates to trust for an https agent URL (WRENN_AGENT_CA), beside the system's.
   * Unused for http.
   */
  ca?: string;
  /** Create waits for a boot and envd; everything else should be quick. */
  createTimeoutMs?: number;
  callTimeoutMs?: number;
}

const STATES: Record<ProtoState, AgentSandboxState> = {
  [ProtoState.UNSPECIFIED]: "unknown",
  [ProtoState.STARTING]: "starting",
  [ProtoState.RUNNING]: "running",
  [ProtoState.PAUSED]: "paused",
  [ProtoState.STOPPED]: "stopped",
  [ProtoState.ERROR]: "error",
};

const KINDS: Partial<Record<Code, HostErrorKind>> = {
  [Code.NotFound]: "not_found",
  [Code.Unavailable]: "unavailable",
  [Code.DeadlineExceeded]: "unavailable",
  [Code.Canceled]: "unavailable",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.AlreadyExists]: "failed_precondition",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "permission_denied",
};

function toHostError(error: unknown): HostError {
  if (error instanceof HostError) return error;
  const connectError = ConnectError.from(error);
  const code = connectError.metadata.get(ERROR_CODE_HEADER);
  return new HostError(
    KINDS[connectError.code] ?? "internal",
    connectError.rawMessage,
    isErrorCode(code) ? code : undefined,
  );
}

function toAgentSandbox(s: ProtoSandbox | undefined): AgentSandbox {
  if (!s) throw new HostError("internal", "host agent answered without a sandbox");
  return {
    id: s.sandboxId,
    template: s.template,
    state: STATES[s.state] ?? "unknown",
    envdVersion: s.envdVersion,
    error: s.error,
    address: s.address,
    ...(isSandboxErrorReason(s.errorReason) ? { errorReason: s.errorReason } : {}),
    ...(s.pauseMode === PauseMode.CHECKPOINT
      ? { pauseMode: "checkpoint" as const }
      : s.pauseMode === PauseMode.FREEZE
        ? { pauseMode: "freeze" as const }
        : {}),
    ...(s.mounts.length > 0 ? { mounts: s.mounts.map((m) => m.sandboxPath) } : {}),
    ...(s.tunnelPort > 0 ? { tunnelPort: s.tunnelPort } : {}),
    ...(s.networkIncomplete ? { networkIncomplete: true } : {}),
  };
}

function toCapacity(c: Capacity | undefined): HostCapacity {
  return {
    vcpus: c?.vcpus ?? 0,
    memoryMb: Number(c?.memoryMb ?? 0),
    diskMb: Number(c?.diskMb ?? 0),
  };
}

export function createConnectHostClient(options: ConnectHostClientOptions): HostClient {
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  // One pool per host: the agent's calls and every request forwarded to its sandboxes.
  const tlsAgent = options.url.startsWith("https:")
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 512,
        ...(options.ca ? { ca: [...tls.rootCertificates, options.ca] } : {}),
      })
    : undefined;
  const transport = createConnectTransport({
    baseUrl: options.url,
    httpVersion: "1.1",
    ...(tlsAgent ? { nodeOptions: { agent: tlsAgent } } : {}),
    interceptors: [
      (next) => (request) => {
        for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
        return next(request);
      },
    ],
  });
  const client: Client<typeof HostAgentService> = createClient(HostAgentService, transport);
  const quick = { timeoutMs: options.callTimeoutMs ?? 30_000 };

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toHostError(error);
    }
  }

  return {
    createSandbox: (r) =>
      call(async () => {
        const response = await client.createSandbox(
          {
            sandboxId: r.sandboxId,
            template: r.template,
            resources: { vcpus: r.vcpus, memoryMb: r.memoryMb, diskMb: r.diskMb },
            envVars: r.envVars,
            metadata: r.metadata,
            network: {
              allowInternet: r.allowInternet,
              allowOut: r.allowOut,
              denyOut: r.denyOut,
              egressProxy: egressProxyToWire(r.egressProxy, true),
              rules: egressRulesToWire(r.rules),
            },
            envdAccessToken: r.envdAccessToken,
            mounts: r.mounts.map((m) => ({
              hostPath: m.hostPath,
              sandboxPath: m.path,
              readOnly: m.readOnly,
            })),
            fromSnapshot: r.fromSnapshot ?? "",
          },
          { timeoutMs: options.createTimeoutMs ?? 300_000 },
        );
        return toAgentSandbox(response.sandbox);
      }),
    destroySandbox: (sandboxId) =>
      call(async () => {
        await client.destroySandbox({ sandboxId }, quick);
      }),
    getSandbox: async (sandboxId) => {
      try {
        return toAgentSandbox((await client.getSandbox({ sandboxId }, quick)).sandbox);
      } catch (error) {
        const hostError = toHostError(error);
        if (hostError.kind === "not_found") return null;
        throw hostError;
      }
    },
    listSandboxes: () =>
      call(async () => (await client.listSandboxes({}, quick)).sandboxes.map(toAgentSandbox)),
    pauseSandbox: (sandboxId) =>
      call(async () =>
        toAgentSandbox(
          (
            await client.pauseSandbox(
              { sandboxId, mode: PauseMode.CHECKPOINT },
              { timeoutMs: 300_000 },
            )
          ).sandbox,
        ),
      ),
    resumeSandbox: (sandboxId) =>
      call(async () =>
        toAgentSandbox((await client.resumeSandbox({ sandboxId }, { timeoutMs: 300_000 })).sandbox),
      ),
    // Both move a whole sandbox (checkpoint and disk) through the store: minutes, not seconds.
    hibernateSandbox: (sandboxId) =>
      call(async () => {
        const r = await client.hibernateSandbox({ sandboxId }, { timeoutMs: 900_000 });
        return { storedBytes: Number(r.storedBytes) };
      }),
    restoreHibernatedSandbox: (sandboxId) =>
      call(async () =>
        toAgentSandbox(
          (await client.restoreHibernatedSandbox({ sandboxId }, { timeoutMs: 900_000 })).sandbox,
        ),
      ),
    updateSandboxNetwork: (sandboxId, network) =>
      call(async () =>
        toAgentSandbox(
          (
            await client.updateSandboxNetwork(
              {
                sandboxId,
                network: {
                  ...network,
                  rules: egressRulesToWire(network.rules),
                  egressProxy: egressProxyToWire(network.egressProxy, true),
                },
              },
              quick,
            )
          ).sandbox,
        ),
      ),
    openWorkspaceTunnel: (sandboxId) =>
      call(async () => {
        const t = await client.openWorkspaceTunnel({ sandboxId }, quick);
        return {
          port: t.port,
          serverPublicKey: t.serverPublicKey,
          clientPrivateKey: t.clientPrivateKey,
        };
      }),
    closeWorkspaceTunnel: (sandboxId) =>
      call(async () => {
        await client.closeWorkspaceTunnel({ sandboxId }, quick);
      }),
    sandboxStats: (sandboxId) =>
      call(async () => {
        const stats = (await client.getSandboxStats({ sandboxId }, quick)).stats;
        if (!stats) throw new HostError("internal", "host agent answered without stats");
        return {
          timestamp: stats.timestamp ? timestampDate(stats.timestamp) : new Date(),
          cpuCount: stats.cpuCount,
          cpuUsedPct: stats.cpuUsedPct,
          memUsedBytes: Number(stats.memUsedBytes),
          memTotalBytes: Number(stats.memTotalBytes),
          memCacheBytes: Number(stats.memCacheBytes),
          diskUsedBytes: Number(stats.diskUsedBytes),
          diskTotalBytes: Number(stats.diskTotalBytes),
        };
      }),
    hostStatus: () =>
      call(async () => {
        const s = await client.hostStatus({}, quick);
        return {
          hostId: s.hostId,
          hostname: s.hostname,
          version: s.version,
          runtimes: s.runtimes,
          total: toCapacity(s.total),
          used: toCapacity(s.used),
          sandboxesByState: { ...s.sandboxesByState },
          sharedStore: s.sharedStore,
        };
      }),
    heartbeat: (controlPlaneId) =>
      call(async () => {
        const h = await client.heartbeat({ controlPlaneId }, quick);
        return {
          hostId: h.hostId,
          instanceId: h.instanceId,
          sandboxCount: h.sandboxCount,
          stateVersion: h.stateVersion,
          ...(h.startedAt ? { startedAt: timestampDate(h.startedAt) } : {}),
        };
      }),
    listTemplates: () =>
      call(async () =>
        (await client.listTemplates({}, quick)).templates.map((t) => ({
          name: t.name,
          version: t.version,
          envdVersion: t.envdVersion,
          sizeBytes: Number(t.sizeBytes),
          builtAt: t.builtAt ? timestampDate(t.builtAt).toISOString() : null,
        })),
      ),
    buildTemplateFromImage: (r, onProgress, signal) =>
      call(async () => {
        for await (const res of client.buildTemplate(
          {
            name: r.name,
            fromImage: r.image,
            registryUsername: r.username ?? "",
            registryPassword: r.password ?? "",
            fromTemplate: r.fromTemplate ?? "",
            steps: (r.steps ?? []).map((st) => ({
              type: st.type,
              args: st.args,
              ...(st.files ? { files: new Uint8Array(st.files) } : {}),
            })),
            startCmd: r.startCmd ?? "",
            readyCmd: r.readyCmd ?? "",
            force: r.force === true,
            cacheScope: r.cacheScope ?? "",
          },
          // No deadline of its own: the template service's time limit aborts `signal`.
          { timeoutMs: 0, ...(signal ? { signal } : {}) },
        )) {
          if (res.event.case === "progress") {
            onProgress(res.event.value.phase, res.event.value.message);
          } else if (res.event.case === "done") {
            return { sizeBytes: Number(res.event.value.sizeBytes) };
          }
        }
        // The agent ends every build it finished with `done`: a stream that stops short lost it.
        throw new HostError("internal", "host agent ended the build without its result");
      }),
    deleteTemplate: (name) =>
      call(async () => {
        await client.deleteTemplate({ name }, { timeoutMs: 120_000 });
      }),
    snapshotSandbox: (sandboxId, snapshotId) =>
      call(async () => {
        const res = await client.snapshotSandbox({ sandboxId, snapshotId }, { timeoutMs: 600_000 });
        return {
          sizeBytes: Number(res.snapshot?.sizeBytes ?? 0),
          stored: res.snapshot?.stored === true,
        };
      }),
    getSnapshot: async (snapshotId) => {
      try {
        const res = await client.getSnapshot({ snapshotId }, { timeoutMs: 60_000 });
        return { stored: res.snapshot?.stored === true };
      } catch (error) {
        const hostError = toHostError(error);
        if (hostError.kind === "not_found") return undefined;
        throw hostError;
      }
    },
    deleteSnapshot: (snapshotId) =>
      call(async () => {
        await client.deleteSnapshot({ snapshotId }, { timeoutMs: 120_000 });
      }),
    readStoppedFiles: (sandboxId, r) =>
      call(async () => {
        const abort = new AbortController();
        const events = client
          .readStoppedFiles(
            {
              sandboxId,
              path: r.path,
              format: r.format === "tar" ? ReadFormat.TAR : ReadFormat.FILE,
              user: r.user ?? "",
            },
            // The agent stops a read at the contract's bound; this only catches a lost agent.
            { signal: abort.signal, timeoutMs: (FILES_RESCUE_LIMITS.timeoutSeconds + 120) * 1000 },
          )
          [Symbol.asyncIterator]();
        // The header comes once the read has begun: a refusal arrives before it, as an error.
        const first = await events.next();
        if (first.done || first.value.event.case !== "header") {
          abort.abort();
          throw new HostError("internal", "the host agent's read began without a header");
        }
        const body = Readable.from(
          (async function* () {
            for (;;) {
              const next = await events.next();
              if (next.done) return;
              if (next.value.event.case === "data") yield Buffer.from(next.value.event.value);
            }
          })(),
        );
        body.once("close", () => abort.abort());
        return { path: first.value.event.value.path, body };
      }),
    forwardTarget(sandboxId, port): ForwardTarget {
      // The agent reads its token from Wrenn-Agent-Token on forwarded traffic: Authorization
      // belongs to the sandbox's own traffic (the E2B SDK sends `Basic user:` to envd).
      return {
        url: options.url,
        headers: {
          ...(options.token ? { [AGENT_TOKEN_HEADER]: options.token } : {}),
          [FORWARD_SANDBOX_HEADER]: sandboxId,
          [FORWARD_PORT_HEADER]: String(port),
        },
        ...(tlsAgent ? { tlsAgent } : {}),
      };
    },
  };
}
