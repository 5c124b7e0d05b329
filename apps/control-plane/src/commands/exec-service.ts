import { IO_LIMITS } from "@wrenn/contract";
import type { Logger } from "pino";
import type { EnvdGateway, EnvdSession } from "../envd/envd-session.js";
import type { AuditLog } from "../service/audit-log.js";
import { ServiceError } from "../service/errors.js";
import type { Principal } from "../service/sandbox-types.js";
import {
  type CommandInput,
  type CommandSpec,
  normalizeCommand,
  terminalCommand,
} from "./command-spec.js";
import { ProcessRun, type RunOutcome } from "./process-run.js";

export interface ExecRequest extends CommandInput {
  /** Written to the process's stdin, then stdin is closed; without it stdin is empty. */
  stdin?: Uint8Array;
}

export interface ExecResult {
  exitCode: number;
  status: string;
  error?: string;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The timeout ran out and the process was killed. */
  timedOut: boolean;
  /** Output beyond IO_LIMITS.execOutputBytes per stream was counted but not kept. */
  truncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  durationMs: number;
}

export interface TerminalRequest {
  cols: number;
  rows: number;
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
}

type RunKind = "exec" | "exec.stream" | "terminal";

/**
 * Commands in sandboxes: one-shot, streamed, and interactive terminals, all through envd's
 * process service. Every run leaves one audit event (who, what, exit code, bytes, duration).
 */
export class ExecService {
  constructor(
    private readonly gateway: EnvdGateway,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  /** Runs a command to its end and returns its output. `abort` kills it (client went away). */
  async run(
    principal: Principal,
    sandboxId: string,
    request: ExecRequest,
    abort?: AbortSignal,
  ): Promise<ExecResult> {
    const spec = normalizeCommand(request, IO_LIMITS.execTimeoutSeconds.default);
    if (request.stdin !== undefined && request.stdin.byteLength > IO_LIMITS.execStdinBytes)
      throw new ServiceError(
        "payload_too_large",
        `stdin is larger than ${IO_LIMITS.execStdinBytes} bytes`,
      );
    const session = await this.gateway.open(principal, sandboxId, spec.user);
    const run = await this.start(principal, session, spec, "exec", {
      stdin: request.stdin !== undefined,
    });

    let timedOut = false;
    const timer =
      spec.timeoutSeconds > 0
        ? setTimeout(() => {
            timedOut = true;
            void run.kill();
          }, spec.timeoutSeconds * 1000)
        : undefined;
    const onAbort = () => void run.kill();
    abort?.addEventListener("abort", onAbort, { once: true });
    if (abort?.aborted) onAbort();

    const limit = IO_LIMITS.execOutputBytes;
    const kept = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
    const keptBytes = { stdout: 0, stderr: 0 };
    let truncated = false;
    const collecting = (async () => {
      for await (const chunk of run.output()) {
        const stream = chunk.stream === "stderr" ? "stderr" : "stdout";
        const room = limit - keptBytes[stream];
        if (room <= 0) {
          truncated = true;
          continue;
        }
        const piece = chunk.data.byteLength > room ? chunk.data.subarray(0, room) : chunk.data;
        if (piece !== chunk.data) truncated = true;
        kept[stream].push(piece);
        keptBytes[stream] += piece.byteLength;
      }
    })();
    // Written while the output is read, so a process that echoes its input cannot stall.
    const writing = (async () => {
      if (request.stdin === undefined) return;
      const step = 256 * 1024;
      for (let at = 0; at < request.stdin.byteLength; at += step)
        await run.write(request.stdin.subarray(at, at + step));
      await run.closeStdin();
    })();
    // The process may exit without reading all of its stdin: that is not a failure.
    const written = writing.catch(() => {});
    try {
      await collecting;
      await written;
    } catch (error) {
      await run.kill();
      throw error;
    } finally {
      clearTimeout(timer);
      abort?.removeEventListener("abort", onAbort);
    }
    const end = run.end!;
    await run.recorded;
    return {
      exitCode: end.exitCode,
      status: end.status,
      ...(end.error ? { error: end.error } : {}),
      stdout: Buffer.concat(kept.stdout),
      stderr: Buffer.concat(kept.stderr),
      timedOut,
      truncated,
      stdoutBytes: run.bytes.stdout,
      stderrBytes: run.bytes.stderr,
      durationMs: Math.round(run.elapsedMs),
    };
  }

  /** Starts a command whose output the caller streams (the WebSocket exec). */
  async startStream(
    principal: Principal,
    sandboxId: string,
    input: CommandInput,
    options: { stdin: boolean },
  ): Promise<{ run: ProcessRun; spec: CommandSpec }> {
    const spec = normalizeCommand(input, 0);
    const session = await this.gateway.open(principal, sandboxId, spec.user);
    const run = await this.start(principal, session, spec, "exec.stream", options);
    return { run, spec };
  }

  /** An interactive login shell on a pty. */
  async startTerminal(
    principal: Principal,
    sandboxId: string,
    request: TerminalRequest,
  ): Promise<ProcessRun> {
    const spec = terminalCommand(request);
    const session = await this.gateway.open(principal, sandboxId, spec.user);
    return this.start(principal, session, spec, "terminal", {
      stdin: true,
      pty: { cols: request.cols, rows: request.rows },
    });
  }

  /** Checks that the principal may run commands in the sandbox, without running anything. */
  async checkAccess(principal: Principal, sandboxId: string): Promise<void> {
    await this.gateway.open(principal, sandboxId);
  }

  private async start(
    principal: Principal,
    session: EnvdSession,
    spec: CommandSpec,
    kind: RunKind,
    options: { stdin: boolean; pty?: { cols: number; rows: number } },
  ): Promise<ProcessRun> {
    const action = kind === "terminal" ? "sandbox.terminal" : "sandbox.exec";
    const base = {
      actor: "api" as const,
      // The sandbox's owner, and the key that ran it (an admin's from the admin UI's terminal).
      ownerId: session.sandbox.ownerId,
      apiKeyId: principal.keyId,
      action,
      sandboxId: session.sandbox.id,
    };
    const what = {
      mode: kind === "exec.stream" ? "stream" : kind === "exec" ? "oneshot" : "pty",
      command: spec.display,
      user: spec.user ?? null,
      cwd: spec.cwd ?? null,
      envNames: Object.keys(spec.envs),
    };
    const began = performance.now();
    let run: ProcessRun;
    try {
      run = await ProcessRun.start(session, spec, {
        ...options,
        onEnded: (s) => this.recordEnded(base, what, s),
      });
    } catch (error) {
      await this.audit.record({
        ...base,
        outcome: "error",
        durationMs: performance.now() - began,
        detail: { ...what, error: error instanceof Error ? error.message : String(error) },
      });
      throw error;
    }
    this.logger.debug({ sandboxId: session.sandbox.id, pid: run.pid, kind }, "process started");
    return run;
  }

  private recordEnded(
    base: { actor: "api"; ownerId: string; apiKeyId: string; action: string; sandboxId: string },
    what: Record<string, unknown>,
    s: RunOutcome,
  ): Promise<void> {
    return this.audit.record({
      ...base,
      outcome: s.end ? "ok" : "error",
      durationMs: s.durationMs,
      detail: {
        ...what,
        exitCode: s.end?.exitCode ?? null,
        status: s.end?.status ?? null,
        ...(s.failure ? { error: s.failure } : {}),
        stdoutBytes: s.bytes.stdout,
        stderrBytes: s.bytes.stderr,
        ptyBytes: s.bytes.pty,
        stdinBytes: s.bytes.stdin,
      },
    });
  }
}
