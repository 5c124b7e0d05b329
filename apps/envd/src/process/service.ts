import { stat } from "node:fs/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ENVD_REPLAY_FROM_HEADER,
  ENVD_REPLAY_START_HEADER,
  SERVER_TIMING_HEADER,
} from "@wrenn/contract";
import {
  type Process,
  type ProcessEventSchema,
  type ProcessInput,
  type ProcessSelector,
  Signal,
  type StreamInputRequest,
} from "@wrenn/proto/process";
import { rpcUser } from "../auth/identity.js";
import { toConnectError } from "../filesystem/errno.js";
import { requestTrace } from "../http/request-trace.js";
import type { Logger } from "../log/logger.js";
import { PathError, resolveUserPath, validatePath } from "../paths/resolve.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { throwIfDeadlineExceeded } from "../streaming/deadline.js";
import { EventQueue, QueueOverflowError } from "../streaming/event-queue.js";
import { keepaliveIntervalMs } from "../streaming/keepalive.js";
import { EnvironmentError, processEnvironment } from "./environment.js";
import type { ExitStatus } from "./exit-status.js";
import { LaunchError, launch } from "./launch.js";
import { ManagedProcess, OUTPUT_LOW_WATER_BYTES, ProcessInputError } from "./managed-process.js";
import type { OutputChunk } from "./output-ring.js";
import type { ProcessRegistry, Selector } from "./registry.js";
import { ResidentLauncher } from "./resident-launcher.js";
import { missingProgram, resolveShell } from "./shell.js";

// Start and Connect responses share this shape: one ProcessEvent.
type ProcessEventInit = { event: MessageInitShape<typeof ProcessEventSchema> };

type FollowItem = { kind: "data"; chunk: OutputChunk } | { kind: "end"; status: ExitStatus };

// A hard bound that backpressure keeps output far below: the process is held once its reader
// is OUTPUT_HIGH_WATER_BYTES behind, so only chunks already read from the pipes can follow.
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

export interface ProcessServiceDeps {
  state: SandboxState;
  registry: ProcessRegistry;
  binDir: string;
  log: Logger;
}

function selectorOf(selector: ProcessSelector | undefined): Selector {
  const s = selector?.selector;
  if (s?.case === "pid") return { kind: "pid", pid: s.value };
  if (s?.case === "tag") return { kind: "tag", tag: s.value };
  throw new ConnectError("a process selector (pid or tag) is required", Code.InvalidArgument);
}

function describeSelector(selector: Selector): string {
  return selector.kind === "pid" ? `pid ${selector.pid}` : `tag '${selector.tag}'`;
}

function inputError(error: unknown): ConnectError {
  if (error instanceof ProcessInputError) {
    return new ConnectError(error.message, Code.FailedPrecondition);
  }
  return toConnectError(error, "input failed");
}

function dataEvent(chunk: OutputChunk): ProcessEventInit {
  return {
    event: {
      event: { case: "data", value: { output: { case: chunk.stream, value: chunk.data } } },
    },
  };
}

function endEvent(status: ExitStatus): ProcessEventInit {
  return { event: { event: { case: "end", value: status } } };
}

function startEvent(pid: number): ProcessEventInit {
  return { event: { event: { case: "start", value: { pid } } } };
}

const KEEPALIVE: ProcessEventInit = { event: { event: { case: "keepalive", value: {} } } };

/**
 * Streams a process's output (after an optional replay) until it ends or the client goes.
 * `announce`: first say where the replay really begins (the answer's header) and send the
 * start event, both after subscribing: the ring may drop old chunks at any time, so the
 * header is only true when taken in the same tick as the replay itself.
 */
async function* follow(
  proc: ManagedProcess,
  ctx: HandlerContext,
  replayFrom: number | undefined,
  setTheDeadline = false,
  announce = false,
): AsyncGenerator<ProcessEventInit> {
  const queue = new EventQueue<FollowItem>(MAX_PENDING_BYTES, (item) =>
    item.kind === "data" ? item.chunk.data.length : 0,
  );
  const unsubscribe = proc.subscribe(
    {
      data: (chunk) => queue.push({ kind: "data", chunk }),
      end: (status) => {
        queue.push({ kind: "end", status });
        queue.close();
      },
      backlog: () => queue.pending,
    },
    replayFrom,
  );
  if (announce && replayFrom !== undefined) {
    ctx.responseHeader.set(ENVD_REPLAY_START_HEADER, String(Math.max(replayFrom, proc.ring.start)));
  }
  const idleMs = keepaliveIntervalMs(ctx.requestHeader);
  try {
    if (announce) yield startEvent(proc.pid);
    for (;;) {
      const item = await queue.next(ctx.signal, idleMs);
      if (queue.pending <= OUTPUT_LOW_WATER_BYTES) proc.drained();
      if (item === undefined) {
        throwIfDeadlineExceeded(ctx.signal);
        return;
      }
      if (item === "idle") {
        yield KEEPALIVE;
      } else if (item.kind === "data") {
        yield dataEvent(item.chunk);
      } else {
        // Our kill at the deadline and connect's own deadline on this stream race; whichever
        // wins, the stream that carried the deadline ends with deadline_exceeded.
        throwIfDeadlineExceeded(ctx.signal);
        if (setTheDeadline && proc.deadlineReached) {
          throw new ConnectError(
            "the process ran past the request's deadline (Connect-Timeout-Ms) and was killed",
            Code.DeadlineExceeded,
          );
        }
        yield endEvent(item.status);
        return;
      }
    }
  } catch (error) {
    if (error instanceof QueueOverflowError) {
      throw new ConnectError(error.message, Code.ResourceExhausted);
    }
    throw error;
  } finally {
    unsubscribe();
  }
}

function parseReplayFrom(headers: Headers): number | undefined {
  const raw = headers.get(ENVD_REPLAY_FROM_HEADER);
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) {
    throw new ConnectError(
      `${ENVD_REPLAY_FROM_HEADER} must be a byte offset (a non-negative integer)`,
      Code.InvalidArgument,
    );
  }
  return Number(raw.trim());
}

export function processService(deps: ProcessServiceDeps): ServiceImpl<typeof Process> {
  const { state, registry, log } = deps;
  // WRENN_ENVD_LAUNCHER=spawn turns the resident launcher off: every command is spawned by Node.
  const launcher =
    process.env.WRENN_ENVD_LAUNCHER === "spawn"
      ? undefined
      : ResidentLauncher.start(deps.binDir, log);

  const live = (selector: ProcessSelector | undefined): ManagedProcess => {
    const sel = selectorOf(selector);
    const proc = registry.find(sel, false);
    if (!proc)
      throw new ConnectError(`process with ${describeSelector(sel)} not found`, Code.NotFound);
    return proc;
  };

  const writeInput = async (proc: ManagedProcess, input: ProcessInput | undefined) => {
    const which = input?.input;
    if (!which || which.case === undefined) {
      throw new ConnectError("input must carry stdin or pty bytes", Code.InvalidArgument);
    }
    try {
      if (which.case === "stdin") await proc.writeStdin(which.value);
      else await proc.writePty(which.value);
    } catch (error) {
      throw inputError(error);
    }
  };

  return {
    async list() {
      return {
        processes: registry.running().map((p) => ({
          pid: p.pid,
          tag: p.tag,
          config: {
            cmd: p.description.cmd,
            args: p.description.args,
            envs: p.description.envs,
            cwd: p.description.cwd,
          },
        })),
      };
    },

    async *start(req, ctx) {
      const trace = requestTrace();
      trace?.mark("parsed");
      const user = rpcUser(ctx.requestHeader, state);
      const config = req.process;
      if (!config || config.cmd === "") {
        throw new ConnectError("process.cmd is required", Code.InvalidArgument);
      }
      let cwd: string;
      let env: Record<string, string>;
      try {
        for (const text of [config.cmd, ...config.args]) {
          if (text.includes("\0"))
            throw new PathError("command and arguments must not contain NUL bytes");
        }
        if (config.cwd !== undefined) validatePath(config.cwd);
        cwd = resolveUserPath(config.cwd ?? "", user, state.defaultWorkdir);
        env = processEnvironment(user, state.envVars, config.envs);
      } catch (error) {
        if (error instanceof PathError || error instanceof EnvironmentError) {
          throw new ConnectError(error.message, Code.InvalidArgument);
        }
        throw error;
      }
      const cwdStat = await stat(cwd).catch(() => undefined);
      if (!cwdStat?.isDirectory()) {
        throw new ConnectError(`cwd '${cwd}' does not exist`, Code.InvalidArgument);
      }
      const size = req.pty?.size;
      const pty = req.pty
        ? { cols: Math.min(size?.cols || 80, 65535), rows: Math.min(size?.rows || 24, 65535) }
        : undefined;

      const program = resolveShell(config.cmd, config.args, process.env.WRENN_ENVD_FALLBACK_SHELL);
      const missing = missingProgram(program.cmd);
      if (missing)
        throw new ConnectError(`error starting process: ${missing}`, Code.InvalidArgument);
      let launched: Awaited<ReturnType<typeof launch>>;
      trace?.mark("spawn");
      try {
        launched = await launch(
          {
            binDir: deps.binDir,
            cmd: program.cmd,
            args: program.args,
            env,
            cwd,
            user,
            pty,
            stdin: req.stdin ?? true,
          },
          launcher,
        );
      } catch (error) {
        if (error instanceof LaunchError) {
          throw new ConnectError(`error starting process: ${error.message}`, Code.InvalidArgument);
        }
        throw error;
      }
      const proc = new ManagedProcess(
        launched.pid,
        { cmd: config.cmd, args: [...config.args], envs: { ...config.envs }, cwd: config.cwd },
        req.tag,
        pty !== undefined,
        launched,
        log,
      );
      registry.add(proc);
      if (trace) {
        trace.mark("spawned");
        // Known before the first message, which carries the headers; the rest is logged.
        ctx.responseHeader.set(SERVER_TIMING_HEADER, trace.header());
        proc.subscribe(
          { data: () => trace.mark("first-output"), end: () => trace.mark("exit") },
          0,
        );
      }
      log.info(
        {
          pid: proc.pid,
          cmd: config.cmd,
          user: user.username,
          pty: pty !== undefined,
          tag: req.tag,
        },
        "process started",
      );
      const timeoutMs = ctx.timeoutMs();
      if (timeoutMs !== undefined && timeoutMs > 0) proc.setDeadline(timeoutMs);

      yield startEvent(proc.pid);
      yield* follow(proc, ctx, 0, timeoutMs !== undefined && timeoutMs > 0);
    },

    async *connect(req, ctx) {
      const sel = selectorOf(req.process);
      const replayFrom = parseReplayFrom(ctx.requestHeader);
      const proc = registry.find(sel, true);
      if (!proc)
        throw new ConnectError(`process with ${describeSelector(sel)} not found`, Code.NotFound);
      yield* follow(proc, ctx, replayFrom, false, true);
    },

    async update(req) {
      const proc = live(req.process);
      const size = req.pty?.size;
      if (req.pty) {
        if (!size || size.cols === 0 || size.rows === 0 || size.cols > 65535 || size.rows > 65535) {
          throw new ConnectError(
            "pty size needs cols and rows between 1 and 65535",
            Code.InvalidArgument,
          );
        }
        try {
          proc.resize(size.cols, size.rows);
        } catch (error) {
          throw inputError(error);
        }
      }
      return {};
    },

    async streamInput(requests: AsyncIterable<StreamInputRequest>) {
      let proc: ManagedProcess | undefined;
      for await (const message of requests) {
        const event = message.event;
        if (event.case === "start") {
          proc = live(event.value.process);
        } else if (event.case === "data") {
          if (!proc)
            throw new ConnectError(
              "the first message must select the process",
              Code.FailedPrecondition,
            );
          await writeInput(proc, event.value.input);
        }
      }
      return {};
    },

    async sendInput(req) {
      await writeInput(live(req.process), req.input);
      return {};
    },

    async sendSignal(req) {
      const proc = live(req.process);
      let signal: "SIGKILL" | "SIGTERM";
      if (req.signal === Signal.SIGKILL) signal = "SIGKILL";
      else if (req.signal === Signal.SIGTERM) signal = "SIGTERM";
      else throw new ConnectError(`invalid signal: ${req.signal}`, Code.InvalidArgument);
      log.info({ pid: proc.pid, signal }, "signalling process");
      await proc.signal(signal);
      return {};
    },

    async closeStdin(req) {
      const proc = live(req.process);
      try {
        proc.closeStdin();
      } catch (error) {
        throw inputError(error);
      }
      return {};
    },
  };
}
