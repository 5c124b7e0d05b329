import type {
  AgentSandbox,
  AgentSandboxStats,
  ForwardTarget,
  HostClient,
} from "../hosts/host-client.js";
import { inFlightOnHost } from "../store/host-sandboxes-store.js";
import type { SandboxRecord } from "../store/sandbox-store.js";
import { resendNetworksNaming, resendSandboxNetwork } from "./network-resend.js";
import { createSandbox } from "./sandbox-create.js";
import { hibernateSandbox, runHibernate } from "./sandbox-hibernation.js";
import type { CreateSandboxInput } from "./sandbox-input.js";
import {
  countsByState,
  ended,
  endpoint,
  failedSandboxHost,
  forwardTarget,
  getSandbox,
  listPage,
  pauseAllOnHost,
  resolveId,
  runningEndpoints,
  runningStats,
  sandboxStats,
} from "./sandbox-queries.js";
import { ServiceCore } from "./sandbox-service-core.js";
import type {
  Actor,
  ListSandboxesQuery,
  SandboxChangeOptions,
  SandboxEndpoint,
  SandboxPage,
  SandboxServiceOptions,
  SettleOutcome,
  ShutdownPauseReport,
} from "./sandbox-service-types.js";
import { setSandboxTimeout, updateSandboxNetwork } from "./sandbox-settings.js";
import {
  applySettlement,
  finishExpiry,
  settleStuck,
  settleWithHost,
} from "./sandbox-settlement-hooks.js";
import {
  destroySandbox,
  pauseSandbox,
  resumeSandbox,
  runDestroy,
  runPause,
} from "./sandbox-transitions.js";
import {
  type EgressRules,
  IN_FLIGHT_STATES,
  type OwnedSandbox,
  type Principal,
  type Sandbox,
} from "./sandbox-types.js";
import { endpointWaking } from "./sandbox-wake.js";

export { fromHostError, refusalCode } from "./host-refusal.js";
export {
  DEFAULT_DEADLINES,
  DEFAULT_FAILED_CREATE_VISIBLE_SECONDS,
  type ListSandboxesQuery,
  type OperationDeadlines,
  type SandboxChangeOptions,
  type SandboxEndpoint,
  type SandboxPage,
  type SandboxServiceOptions,
  type SettleOutcome,
  type ShutdownPauseReport,
} from "./sandbox-service-types.js";

/**
 * Every sandbox operation, once. The REST API, the E2B API, the lifecycle manager and later the
 * admin UI call this; ownership is enforced here, so no caller can forget it.
 *
 * Concurrency: each operation moves the row with a compare-and-set on its state (running →
 * pausing → paused, ...), so two operations on one sandbox cannot both proceed, across any
 * number of control planes. A row left in flight by a crash is settled by the lifecycle manager
 * once its op_deadline passes.
 *
 * A facade: each group of operations is a file of functions over a ServiceCore (the options
 * and the shared look-ups), named in the section comments below; each keeps its doc comment.
 */
export class SandboxService {
  private readonly core: ServiceCore;

  constructor(o: SandboxServiceOptions) {
    this.core = new ServiceCore(o);
  }

  // ---------------------------------------------------------------- queries (sandbox-queries.ts)

  resolveId(principal: Principal, ref: string): Promise<string> {
    return resolveId(this.core, principal, ref);
  }

  get(principal: Principal, id: string): Promise<OwnedSandbox> {
    return getSandbox(this.core, principal, id);
  }

  list(principal: Principal, query: ListSandboxesQuery): Promise<SandboxPage> {
    return listPage(this.core, principal, query);
  }

  stats(principal: Principal, id: string): Promise<AgentSandboxStats | null> {
    return sandboxStats(this.core, principal, id);
  }

  forwardTarget(principal: Principal | null, id: string, port: number): Promise<ForwardTarget> {
    return forwardTarget(this.core, principal, id, port);
  }

  endpoint(principal: Principal | null, id: string): Promise<SandboxEndpoint> {
    return endpoint(this.core, principal, id);
  }

  /** endpoint(), resuming a paused sandbox with autoResume first (the proxy's look-up). */
  endpointWaking(principal: Principal | null, id: string): Promise<SandboxEndpoint> {
    return endpointWaking(this.core, principal, id);
  }

  failedSandboxHost(principal: Principal | null, id: string) {
    return failedSandboxHost(this.core, principal, id);
  }

  runningStats(concurrency = 8): Promise<{ id: string; stats: AgentSandboxStats }[]> {
    return runningStats(this.core, concurrency);
  }

  countsByState(): Promise<Record<string, number>> {
    return countsByState(this.core);
  }

  ended(ids: readonly string[]): Promise<string[]> {
    return ended(this.core, ids);
  }

  runningEndpoints(): Promise<SandboxEndpoint[]> {
    return runningEndpoints(this.core);
  }

  pauseAllOnHost(hostId: string): Promise<ShutdownPauseReport> {
    return pauseAllOnHost(this.core, hostId);
  }

  // ---------------------------------------------------------------- create (sandbox-create.ts)

  create(principal: Principal, input: CreateSandboxInput): Promise<OwnedSandbox> {
    return createSandbox(this.core, principal, input);
  }

  // ---------------------------------------------------------------- destroy, pause, resume (sandbox-transitions.ts)

  destroy(
    principal: Principal,
    id: string,
    options?: SandboxChangeOptions,
  ): Promise<{ alreadyStopped: boolean }> {
    return destroySandbox(this.core, principal, id, options);
  }

  runDestroy(row: SandboxRecord, actor: Actor): Promise<void> {
    return runDestroy(this.core, row, actor);
  }

  pause(principal: Principal, id: string): Promise<Sandbox> {
    return pauseSandbox(this.core, principal, id);
  }

  runPause(row: SandboxRecord, actor: Actor): Promise<Sandbox> {
    return runPause(this.core, row, actor);
  }

  /** paused → hibernated (sandbox-hibernation.ts). */
  hibernate(principal: Principal, id: string): Promise<Sandbox> {
    return hibernateSandbox(this.core, principal, id);
  }

  /** The auto-hibernate pass's: a paused row it claimed. */
  runHibernate(row: SandboxRecord, actor: Actor): Promise<Sandbox> {
    return runHibernate(this.core, row, actor);
  }

  resume(
    principal: Principal,
    id: string,
    /** hostId: a hibernated sandbox resumes on that host only (a workspace move). */
    options: { timeoutSeconds?: number; hostId?: string } = {},
  ): Promise<{ sandbox: OwnedSandbox; resumed: boolean }> {
    return resumeSandbox(this.core, principal, id, options);
  }

  setTimeout(
    principal: Principal,
    id: string,
    asked: number,
    options?: SandboxChangeOptions,
  ): Promise<Sandbox> {
    return setSandboxTimeout(this.core, principal, id, asked, options);
  }

  // ---------------------------------------------------------------- timeout and network (sandbox-settings.ts)

  updateNetwork(
    principal: Principal,
    id: string,
    input: {
      allowInternet?: boolean;
      network?: Pick<Partial<EgressRules>, "allowOut" | "denyOut"> & {
        egressProxy?: unknown;
        rules?: unknown;
      };
    },
  ): Promise<Sandbox> {
    return updateSandboxNetwork(this.core, principal, id, input);
  }

  // ---------------------------------------------------------------- held network secrets (network-resend.ts)

  /** The host lost the row's network secrets (a restart): sends its policy again. */
  resendNetwork(row: SandboxRecord): Promise<void> {
    return resendSandboxNetwork(this.core, row);
  }

  /** The owner's secret changed: sandboxes whose rules name it get the new value. */
  secretChanged(ownerId: string, name: string): Promise<string[]> {
    return resendNetworksNaming(this.core, ownerId, name);
  }

  // ---------------------------------------------------------------- lifecycle hooks (sandbox-settlement-hooks.ts)

  finishExpiry(row: SandboxRecord): Promise<void> {
    return finishExpiry(this.core, row);
  }

  settleStuck(row: SandboxRecord): Promise<void> {
    return settleStuck(this.core, row);
  }

  /**
   * Settles at once every operation still in flight on a host, e.g. one cut by the last stop of
   * a local stack whose embedded database is its own, rather than after its deadline.
   */
  async settleInFlightOn(hostId: string): Promise<void> {
    for (const row of await inFlightOnHost(this.core.options.db, hostId, IN_FLIGHT_STATES)) {
      await settleStuck(this.core, row);
    }
  }

  settleWithHost(row: SandboxRecord, client: HostClient): Promise<SettleOutcome | null> {
    return settleWithHost(this.core, row, client);
  }

  applySettlement(
    row: SandboxRecord,
    agent: AgentSandbox | null,
    client: HostClient,
    unchangedSince: Date | undefined,
    actor: "lifecycle" | "reconciler",
  ): Promise<SettleOutcome> {
    return applySettlement(this.core, row, agent, client, unchangedSince, actor);
  }
}
