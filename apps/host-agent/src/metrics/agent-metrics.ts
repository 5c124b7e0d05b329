import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Observer, SandboxManager } from "../sandboxes/sandbox-manager.js";

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

/** Prometheus metrics of the agent, served at /metrics. */
export class AgentMetrics implements Observer {
  readonly registry = new Registry();
  private readonly createSeconds = new Histogram({
    name: "wrenn_sandbox_create_seconds",
    help: "Time from a create request to envd answering, by boot path.",
    labelNames: ["path"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly pauseSeconds = new Histogram({
    name: "wrenn_sandbox_pause_seconds",
    help: "Time to pause a sandbox, by mode (checkpoint to disk, or freeze in memory).",
    labelNames: ["mode"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly resumeSeconds = new Histogram({
    name: "wrenn_sandbox_resume_seconds",
    help: "Time to resume a sandbox until envd answers.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly forwardErrors = new Counter({
    name: "wrenn_forward_errors_total",
    help: "Forwarded requests that could not reach the sandbox.",
    registers: [this.registry],
  });

  constructor(manager: () => SandboxManager) {
    collectDefaultMetrics({ register: this.registry, prefix: "wrenn_agent_" });
    new Gauge({
      name: "wrenn_sandboxes",
      help: "Sandboxes on this host by state (pooled ones are booted and unclaimed).",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(manager().usage().byPhase)) this.set({ state }, n);
      },
    });
    const cpu = new Gauge({
      name: "wrenn_sandbox_cpu_used_percent",
      help: "CPU used by a sandbox since the previous sample, percent of its vcpus.",
      labelNames: ["sandbox_id"],
      registers: [this.registry],
    });
    new Gauge({
      name: "wrenn_sandbox_memory_used_bytes",
      help: "Memory charged to a sandbox's cgroup (guest, sentry and gofer).",
      labelNames: ["sandbox_id"],
      registers: [this.registry],
      async collect() {
        this.reset();
        cpu.reset();
        const m = manager();
        for (const s of m.list().filter((v) => v.phase === "running")) {
          try {
            const st = await m.stats(s.sandboxId);
            this.set({ sandbox_id: s.sandboxId }, st.memUsedBytes);
            cpu.set({ sandbox_id: s.sandboxId }, st.cpuUsedPct);
          } catch {
            // The sandbox went away between list and stats.
          }
        }
      },
    });
  }

  created(path: string, seconds: number): void {
    this.createSeconds.observe({ path }, seconds);
  }

  paused(mode: string, seconds: number): void {
    this.pauseSeconds.observe({ mode }, seconds);
  }

  resumed(seconds: number): void {
    this.resumeSeconds.observe(seconds);
  }
}
