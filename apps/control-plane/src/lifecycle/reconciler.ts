import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import type { AgentSandbox } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import type { SandboxService } from "../service/sandbox-service.js";
import { IN_FLIGHT_STATES } from "../service/sandbox-types.js";
import { databaseNow, sandboxesOnHost, stoppedOnHost } from "../store/host-sandboxes-store.js";

export interface ReconcileReport {
  hostId: string;
  /** Rows compared with the host. */
  checked: number;
  /** id → new state, for every row whose state changed. */
  changed: Record<string, string>;
  /** Rows left alone because an operation on them is still within its deadline. */
  inFlight: string[];
  /** Sandboxes the database had stopped or failed but the host still ran; destroyed there. */
  destroyedOnHost: string[];
  /** Sandboxes on the host with no row at all: left running and reported, never guessed at. */
  unknownOnHost: string[];
  /** Sandboxes whose agent lacked their network secrets (it restarted): their policy sent again. */
  networkResent: string[];
}

export interface ReconcilerDeps {
  db: Queryable;
  registry: HostRegistry;
  sandboxes: SandboxService;
  logger: Logger;
}

/**
 * Makes the database and one host agree again after either restarted: every row not stopped
 * is compared with the agent's ListSandboxes (see settle() for the rules), and sandboxes the
 * database has already stopped are destroyed on the host. Updates only apply to rows whose
 * state did not change after the listing began, so it cannot undo an operation racing it.
 */
export async function reconcileHost(
  deps: ReconcilerDeps,
  hostId: string,
  options: {
    /**
     * When the host's agent process started. An operation begun before it was cut short
     * with the previous process: it is settled now instead of waiting for its deadline.
     */
    agentStartedAt?: Date;
  } = {},
): Promise<ReconcileReport> {
  const client = deps.registry.client(hostId);
  const listedAt = await databaseNow(deps.db);
  const onHost = await client.listSandboxes();
  const byId = new Map<string, AgentSandbox>(onHost.map((s) => [s.id, s]));
  const rows = await sandboxesOnHost(deps.db, hostId);
  const report: ReconcileReport = {
    hostId,
    checked: rows.length,
    changed: {},
    inFlight: [],
    destroyedOnHost: [],
    unknownOnHost: [],
    networkResent: [],
  };

  for (const row of rows) {
    const interrupted =
      options.agentStartedAt !== undefined && row.stateChangedAt < options.agentStartedAt;
    if (
      IN_FLIGHT_STATES.includes(row.state) &&
      row.opDeadline &&
      row.opDeadline > listedAt &&
      !interrupted
    ) {
      report.inFlight.push(row.id);
      continue;
    }
    const agent = byId.get(row.id) ?? null;
    const outcome = await deps.sandboxes.applySettlement(
      row,
      agent,
      client,
      listedAt,
      "reconciler",
    );
    if (outcome.state && outcome.state !== row.state) report.changed[row.id] = outcome.state;
    if (outcome.destroyedOnHost) report.destroyedOnHost.push(row.id);
    // The agent restarted and lost what it holds in memory only (header values, the
    // egressProxy's credentials): it gets the policy again from the row.
    if (agent?.networkIncomplete) {
      try {
        await deps.sandboxes.resendNetwork(row);
        report.networkResent.push(row.id);
      } catch (error) {
        deps.logger.warn(
          { sandboxId: row.id, err: String(error) },
          "could not send the sandbox's network policy to its restarted host; its next network update will",
        );
      }
    }
  }

  const known = new Set(rows.map((r) => r.id));
  const strays = onHost.filter((s) => !known.has(s.id)).map((s) => s.id);
  if (strays.length > 0) {
    const stopped = new Set((await stoppedOnHost(deps.db, hostId, strays)).map((r) => r.id));
    for (const id of strays) {
      if (!stopped.has(id)) {
        report.unknownOnHost.push(id);
        continue;
      }
      try {
        await client.destroySandbox(id);
        report.destroyedOnHost.push(id);
      } catch (error) {
        deps.logger.warn(
          { sandboxId: id, err: String(error) },
          "could not destroy a stopped sandbox on its host",
        );
      }
    }
  }
  if (report.unknownOnHost.length > 0) {
    deps.logger.warn(
      { hostId, ids: report.unknownOnHost },
      "host runs sandboxes this database does not know",
    );
  }
  deps.logger.info(
    { hostId, checked: report.checked, changed: report.changed, destroyed: report.destroyedOnHost },
    "reconciled host",
  );
  return report;
}
