// Takes a sample of every running sandbox on a timer, whether or not anyone watches, so the
// detail page shows the last hour the moment it opens. Cheap by construction: only running
// sandboxes are asked (the agent reads two cgroup files and a statfs), a few at a time, and a
// tick that is still running when the next is due makes the next one skip.
import type { Logger } from "pino";
import type { SandboxService } from "../../service/sandbox-service.js";
import type { MetricsHistory } from "./metrics-history.js";

export class MetricsSampler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly sandboxes: Pick<SandboxService, "runningStats" | "ended">,
    private readonly history: MetricsHistory,
    private readonly logger: Pick<Logger, "warn">,
  ) {}

  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.history.limits.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: sample what runs, drop what ended. Resolves when done (tests await it). */
  tick(): Promise<void> {
    if (!this.running) {
      this.running = this.sample()
        .catch((error: unknown) => this.logger.warn({ err: error }, "metrics sampling failed"))
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }

  private async sample(): Promise<void> {
    const samples = await this.sandboxes.runningStats();
    const sampled = new Set<string>();
    for (const { id, stats } of samples) {
      this.history.add(id, stats);
      sampled.add(id);
    }
    const others = this.history.ids().filter((id) => !sampled.has(id));
    for (const id of await this.sandboxes.ended(others)) this.history.forget(id);
    this.history.dropStale();
  }
}
