// Template builds whose control plane died. A build is followed by the control plane that
// started it (it holds the agent's build stream; when that stream ends the agent stops the
// build), and that control plane touches the record's build_heartbeat_at while it follows it.
// Control planes may run side by side on one database, so a record left `building` is only
// lost once its heartbeat went stale: then no stream follows it any more, and the sweep
// closes it with template_build_lost. A control plane sweeps when it starts and every
// heartbeat after that.
import { errorMessage } from "@wrenn/contract";
import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";

export interface BuildSweepOptions {
  db: Queryable;
  logger: Logger;
  /** The record ids of the builds this process follows now. */
  followed: () => string[];
  /** How often this process says it follows its builds (and sweeps). */
  heartbeatMs?: number;
  /** A heartbeat older than this means its control plane is gone. */
  staleSeconds?: number;
}

export const BUILD_HEARTBEAT_MS = 10_000;
/** Six missed heartbeats: a control plane busy for a minute is not taken for dead. */
export const BUILD_STALE_SECONDS = 60;

export interface LostBuild {
  id: string;
  ownerId: string;
  name: string;
  tag: string;
}

export class BuildSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly options: BuildSweepOptions) {}

  /** Says this process follows its builds, then closes builds nobody follows. */
  async sweep(): Promise<LostBuild[]> {
    const { db } = this.options;
    const followed = this.options.followed();
    if (followed.length > 0) {
      await db.query(
        `UPDATE templates SET build_heartbeat_at = now()
         WHERE id = ANY($1::text[]) AND status = 'building'`,
        [followed],
      );
    }
    const stale = this.options.staleSeconds ?? BUILD_STALE_SECONDS;
    const quiet = `build_heartbeat_at IS NULL OR build_heartbeat_at < now() - make_interval(secs => $2)`;
    const candidates = await db.query<{ id: string; owner_id: string; name: string; tag: string }>(
      `SELECT id, owner_id, name, tag FROM templates
       WHERE status = 'building' AND NOT (id = ANY($1::text[])) AND (${quiet})`,
      [followed, stale],
    );
    const lost: LostBuild[] = [];
    for (const row of candidates.rows) {
      const template = `${row.name}:${row.tag}`;
      const message = `${errorMessage("template_build_lost", { template })} (no heartbeat for ${stale} s); build it again`;
      // Checked again in the update: its control plane may have spoken since the select.
      const closed = await db.query(
        `UPDATE templates SET status = 'error', error_code = 'template_build_lost',
           error_message = $3, error_step = step, building_host_template = NULL,
           build_finished_at = now(), updated_at = now()
         WHERE id = $4 AND status = 'building' AND NOT (id = ANY($1::text[])) AND (${quiet})
         RETURNING id`,
        [followed, stale, message, row.id],
      );
      if (closed.rows.length > 0) {
        lost.push({ id: row.id, ownerId: row.owner_id, name: row.name, tag: row.tag });
      }
    }
    if (lost.length > 0) {
      this.options.logger.warn(
        { templates: lost.map((l) => l.id) },
        "template builds left by a stopped control plane marked lost",
      );
    }
    return lost;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // One sweep at a time: a slow database must not pile them up.
      this.running ??= this.sweep()
        .catch((error: unknown) =>
          this.options.logger.error({ err: String(error) }, "template build sweep failed"),
        )
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.heartbeatMs ?? BUILD_HEARTBEAT_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
