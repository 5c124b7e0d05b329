import { HOST_HEARTBEAT } from "@wrenn/contract";
import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import {
  findHost,
  type HostObservation,
  type HostRecord,
  markSilentHostsUnreachable,
  recordHeartbeat,
  recordHostError,
  recordHostFailure,
  recordHostSeen,
} from "../store/host-store.js";
import { HostError, type HostErrorKind } from "./host-client.js";
import type { HostRegistry, RegisteredHost } from "./host-registry.js";

/**
 * Errors only an agent that is up can give. The rest count towards losing the host: unavailable,
 * unauthenticated, and internal, which is also what a broken connection (EPIPE) reads as.
 */
const ANSWERED: HostErrorKind[] = [
  "not_found",
  "invalid_argument",
  "failed_precondition",
  "resource_exhausted",
];

export interface HostMonitorOptions {
  db: Queryable;
  registry: HostRegistry;
  controlPlaneId: string;
  logger: Logger;
  /**
   * Called when a host comes back, restarts, or is first reached by this control plane, and
   * whenever it reports that a sandbox changed state on its own (HeartbeatResponse's
   * state_version). `agentStartedAt`: operations begun before it were cut short.
   */
  onHostReachable: (hostId: string, agentStartedAt?: Date) => Promise<void>;
  /** Called once when a host is declared unreachable. */
  onHostLost: (hostId: string) => Promise<void>;
  /** Consecutive failed contacts before a polled host counts as unreachable. */
  offlineAfter?: number;
  /** Seconds a registered host may go without a heartbeat before it is unreachable. */
  silenceSeconds?: number;
}

/** What a registered host's heartbeat reports (docs/hosts.md). */
export interface HostHeartbeatReport extends HostObservation {
  stateVersion: string;
  startedAt: Date;
}

/**
 * Watches every host: polls the configured one (heartbeat, status, templates), takes the
 * heartbeats registered hosts send, and notices restarts, returns and losses of both.
 */
export class HostMonitor {
  private readonly reached = new Set<string>();
  /** Per host, the agent instance and state_version last reconciled. */
  private readonly versions = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<HostRecord | null>>();
  /** Per registered host, the heartbeat being recorded (they are taken one at a time). */
  private readonly observing = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(private readonly options: HostMonitorOptions) {}

  /** Contacts one host now; concurrent callers share the same attempt. */
  refresh(hostId: string): Promise<HostRecord | null> {
    const existing = this.inFlight.get(hostId);
    if (existing) return existing;
    const host = this.options.registry.all().find((h) => h.id === hostId);
    if (!host) return Promise.resolve(null);
    // A registered host tells us about itself; there is nothing to ask it.
    if (host.kind === "registered") return findHost(this.options.db, hostId);
    const attempt = this.contact(host).finally(() => this.inFlight.delete(hostId));
    this.inFlight.set(hostId, attempt);
    return attempt;
  }

  private async contact(host: RegisteredHost): Promise<HostRecord | null> {
    const { db, logger } = this.options;
    let seen: Awaited<ReturnType<typeof recordHostSeen>>;
    try {
      const beat = await host.client.heartbeat(this.options.controlPlaneId);
      const [status, templates] = await Promise.all([
        host.client.hostStatus(),
        host.client.listTemplates(),
      ]);
      seen = await recordHostSeen(db, host.id, {
        agentHostId: status.hostId || beat.hostId,
        hostname: status.hostname,
        version: status.version,
        instanceId: beat.instanceId,
        runtimes: status.runtimes,
        capacityTotal: status.total,
        capacityUsed: status.used,
        sandboxesByState: status.sandboxesByState,
        templates,
      });
      const restarted =
        seen.previousInstanceId !== null && seen.previousInstanceId !== beat.instanceId;
      const version = `${beat.instanceId}/${beat.stateVersion}`;
      const moved = this.versions.has(host.id) && this.versions.get(host.id) !== version;
      if (moved && !restarted && seen.previousStatus === "online" && this.reached.has(host.id)) {
        logger.info({ hostId: host.id }, "a sandbox changed state on its host; reconciling");
        await this.options.onHostReachable(host.id, beat.startedAt);
        this.versions.set(host.id, version);
      }
      if (!this.reached.has(host.id) || seen.previousStatus !== "online" || restarted) {
        logger.info(
          {
            hostId: host.id,
            instanceId: beat.instanceId,
            restarted,
            previous: seen.previousStatus,
          },
          "host reachable; reconciling",
        );
        await this.options.onHostReachable(host.id, beat.startedAt);
        this.reached.add(host.id);
        this.versions.set(host.id, version);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof HostError && ANSWERED.includes(error.kind)) {
        // It answered, so it is there: an application error (a call racing a create, say)
        // must not mark every sandbox of the host missing.
        logger.warn(
          { hostId: host.id, err: message },
          "host agent answered a heartbeat with an error",
        );
        await recordHostError(db, host.id, message);
        return findHost(db, host.id);
      }
      const result = await recordHostFailure(db, host.id, message, this.options.offlineAfter ?? 3);
      logger.warn({ hostId: host.id, url: host.url, err: message }, "host agent unreachable");
      if (result.wentOffline) {
        logger.error({ hostId: host.id }, "host offline; its sandboxes are marked missing");
        await this.options.onHostLost(host.id);
      }
    }
    return findHost(db, host.id);
  }

  /**
   * A heartbeat from a registered host. A host coming back (or first heard of), restarted, or
   * whose sandboxes changed state on their own is reconciled before this resolves, so the
   * sandboxes it holds show their true state when the agent's next beat is due.
   */
  observe(hostId: string, report: HostHeartbeatReport): Promise<void> {
    const previous = this.observing.get(hostId) ?? Promise.resolve();
    const next = previous
      .catch(() => {})
      .then(async () => {
        const seen = await recordHeartbeat(this.options.db, hostId, report);
        const restarted =
          seen.previousInstanceId !== null && seen.previousInstanceId !== report.instanceId;
        const moved = seen.previousStateVersion !== `${report.instanceId}/${report.stateVersion}`;
        if (seen.previousStatus !== "online" || restarted || moved || !this.reached.has(hostId)) {
          this.options.logger.info(
            { hostId, restarted, previous: seen.previousStatus },
            "registered host heartbeat; reconciling",
          );
          await this.options.onHostReachable(hostId, report.startedAt);
          this.reached.add(hostId);
        }
      });
    const settled = next.finally(() => {
      if (this.observing.get(hostId) === settled) this.observing.delete(hostId);
    });
    this.observing.set(hostId, settled);
    return next;
  }

  async tick(): Promise<void> {
    await this.options.registry.sync();
    const hosts = this.options.registry.all();
    await Promise.all(
      hosts.filter((h) => h.kind === "configured").map((host) => this.refresh(host.id)),
    );
    if (hosts.some((h) => h.kind === "registered")) {
      const lost = await markSilentHostsUnreachable(
        this.options.db,
        this.options.silenceSeconds ?? HOST_HEARTBEAT.silenceSeconds,
      );
      for (const hostId of lost) {
        this.options.logger.error({ hostId }, "host silent; its sandboxes are marked missing");
        this.reached.delete(hostId);
        await this.options.onHostLost(hostId);
      }
    }
  }

  start(intervalMs: number): void {
    const run = () => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((error) => this.options.logger.error({ err: error }, "host monitor tick failed"))
        .finally(() => {
          this.ticking = undefined;
        });
    };
    run();
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await Promise.allSettled(this.inFlight.values());
    await Promise.allSettled(this.observing.values());
  }
}
