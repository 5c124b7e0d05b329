import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import type { OperationDeadlines, SandboxService } from "../service/sandbox-service.js";
import { IN_FLIGHT_STATES } from "../service/sandbox-types.js";
import { claimIdlePaused } from "../store/hibernation-store.js";
import { claimExpired, claimStuck } from "../store/sandbox-store.js";

export interface LifecycleOptions {
  db: Queryable;
  sandboxes: SandboxService;
  logger: Logger;
  deadlines: OperationDeadlines;
  /** Rows handled per pass; the next pass takes the rest. */
  batchSize?: number;
  /** How long a stuck row is leased to the control plane settling it. */
  stuckLeaseSeconds?: number;
  /**
   * Paused this long, a sandbox is hibernated to the artifact store (WRENN_AUTO_HIBERNATE_S;
   * unset or 0: never).
   */
  autoHibernateSeconds?: number;
}

export interface TickReport {
  expired: string[];
  settled: string[];
  hibernated: string[];
}

/**
 * Ends sandboxes at their end time (destroy, or pause when auto-pause was asked) and settles
 * operations a crashed control plane left in flight. All of its state is in the database, so a
 * restart loses no pending expiry, and several control planes share the work (SKIP LOCKED).
 */
export class LifecycleManager {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;

  constructor(private readonly options: LifecycleOptions) {}

  async tick(): Promise<TickReport> {
    const batch = this.options.batchSize ?? 20;
    const expired = await claimExpired(this.options.db, batch, {
      pause: this.options.deadlines.pause,
      stop: this.options.deadlines.stop,
    });
    await Promise.all(
      expired.map((row) =>
        this.options.sandboxes.finishExpiry(row).catch((error) => {
          this.options.logger.error({ err: error, sandboxId: row.id }, "expiry failed");
        }),
      ),
    );
    const stuck = await claimStuck(
      this.options.db,
      batch,
      IN_FLIGHT_STATES,
      this.options.stuckLeaseSeconds ?? 60,
    );
    await Promise.all(
      stuck.map((row) =>
        this.options.sandboxes.settleStuck(row).catch((error) => {
          this.options.logger.error(
            { err: error, sandboxId: row.id },
            "settling a stuck sandbox failed",
          );
        }),
      ),
    );
    const hibernated = await this.autoHibernate(batch);
    if (expired.length > 0 || stuck.length > 0 || hibernated.length > 0) {
      this.options.logger.info(
        { expired: expired.map((r) => r.id), stuck: stuck.map((r) => r.id), hibernated },
        "lifecycle pass",
      );
    }
    return { expired: expired.map((r) => r.id), settled: stuck.map((r) => r.id), hibernated };
  }

  /**
   * Hibernates sandboxes paused past the setting, and the paused sandboxes of drained hosts
   * (so a drain moves them off); one that fails is tried again later.
   */
  private async autoHibernate(batch: number): Promise<string[]> {
    // The lease outlasts a hibernation's own deadline, so two passes never race on one row.
    const idlePaused = await claimIdlePaused(
      this.options.db,
      batch,
      this.options.autoHibernateSeconds || null,
      900,
    );
    const done: string[] = [];
    await Promise.all(
      idlePaused.map((row) =>
        this.options.sandboxes.runHibernate(row, { actor: "lifecycle" }).then(
          () => done.push(row.id),
          (error) =>
            this.options.logger.warn(
              { err: error, sandboxId: row.id },
              "auto-hibernate failed; the sandbox stays paused and is tried again later",
            ),
        ),
      ),
    );
    return done;
  }

  start(intervalMs: number): void {
    const run = () => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((error) => this.options.logger.error({ err: error }, "lifecycle pass failed"))
        .finally(() => {
          this.ticking = undefined;
        });
    };
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
    run();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }
}
