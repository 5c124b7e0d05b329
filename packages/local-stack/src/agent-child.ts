import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import type { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The host agent's entry point in this repository (from src/ and dist/ alike). */
export const AGENT_MAIN = fileURLToPath(
  new URL("../../../apps/host-agent/dist/main.js", import.meta.url),
);

export interface AgentChildOptions {
  /** WRENN_DATA_DIR of the agent: its state goes to <dataDir>/agent. */
  dataDir: string;
  /** Built templates (default <dataDir>/templates). */
  templatesDir?: string;
  /** host:port on loopback. */
  listen: string;
  /** The agent token: Bearer for the agent's API, Wrenn-Agent-Token on forwarded traffic. */
  token?: string;
  /** More environment for the agent (pool size, network pool and names, log level). */
  env?: NodeJS.ProcessEnv;
  /** Where the agent's own log goes (its stdout and stderr). */
  log: Writable;
  agentMain?: string;
  /** Serve TLS (WRENN_AGENT_TLS_CERT / _KEY); `ca` is what a client trusts for it (PEM). */
  tls?: { certFile: string; keyFile: string; ca: string };
}

/**
 * `wrenn-agent serve` as a child process. It must run as root; sandboxes outlive it and are
 * adopted by the next one started on the same data directory.
 */
export class AgentChild {
  private child?: ChildProcess;
  private exit?: Promise<number | null>;

  constructor(readonly options: AgentChildOptions) {}

  get url(): string {
    return `${this.options.tls ? "https" : "http"}://${this.options.listen}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves with the exit code when the agent exits (null: killed by a signal). */
  get exited(): Promise<number | null> {
    return this.exit ?? Promise.resolve(null);
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Starts the agent and waits until it answers. */
  async start(timeoutMs = 120_000): Promise<void> {
    const o = this.options;
    const child = spawn(process.execPath, [o.agentMain ?? AGENT_MAIN, "serve"], {
      env: {
        ...process.env,
        ...o.env,
        WRENN_DATA_DIR: o.dataDir,
        ...(o.templatesDir ? { WRENN_TEMPLATES_DIR: o.templatesDir } : {}),
        WRENN_AGENT_LISTEN: o.listen,
        WRENN_AGENT_TOKEN: o.token ?? "",
        ...(o.tls
          ? { WRENN_AGENT_TLS_CERT: o.tls.certFile, WRENN_AGENT_TLS_KEY: o.tls.keyFile }
          : {}),
        // Even a SIGKILL of this process (no "exit" event) must not leave the agent running.
        WRENN_AGENT_EXIT_WITH_PARENT: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop the agent
      // after pausing sandboxes through it (it must still answer then).
      detached: true,
    });
    this.child = child;
    // If we exit without stopping it (a crash, a forced exit), it goes too.
    const orphanGuard = () => {
      if (this.running) child.kill("SIGTERM");
    };
    process.once("exit", orphanGuard);
    child.once("exit", () => process.removeListener("exit", orphanGuard));
    child.stdout?.pipe(o.log, { end: false });
    child.stderr?.pipe(o.log, { end: false });
    this.exit = once(child, "exit").then(([code]) => code as number | null);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`the host agent exited during start (code ${child.exitCode}); see its log`);
      }
      try {
        if ((await this.health()) === 204) return;
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    await this.stop();
    throw new Error(`the host agent did not answer on ${o.listen} within ${timeoutMs} ms`);
  }

  /** The status of GET /healthz (over TLS trusting only `tls.ca` when the agent serves TLS). */
  private health(): Promise<number> {
    const o = this.options;
    return new Promise((resolve, reject) => {
      const request = (o.tls ? https : http).get(
        `${this.url}/healthz`,
        {
          headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
          ...(o.tls ? { ca: o.tls.ca } : {}),
          timeout: 5000,
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("timeout", () => request.destroy(new Error("no answer")));
      request.on("error", reject);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Like a crash: no chance to clean up (sandboxes keep running). */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGKILL");
    await this.exited;
  }
}

/**
 * Builds a template with `wrenn-agent template build` (instant when it is up to date),
 * passing each progress line on.
 */
export async function buildTemplate(options: {
  name: string;
  templatesDir: string;
  onLine: (line: string) => void;
  agentMain?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<void> {
  const child = spawn(
    process.execPath,
    [options.agentMain ?? AGENT_MAIN, "template", "build", options.name],
    {
      env: { ...process.env, ...options.env, WRENN_TEMPLATES_DIR: options.templatesDir },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let tail = "";
  const lines = (chunk: Buffer) => {
    tail += chunk.toString("utf8");
    const parts = tail.split("\n");
    tail = parts.pop() ?? "";
    for (const line of parts) if (line.trim()) options.onLine(line);
  };
  child.stdout?.on("data", lines);
  child.stderr?.on("data", lines);
  const [code] = (await once(child, "exit")) as [number | null];
  if (tail.trim()) options.onLine(tail);
  if (code !== 0) throw new Error(`building template ${options.name} failed (exit ${code})`);
}
