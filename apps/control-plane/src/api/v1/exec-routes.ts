import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  commonErrors,
  ExecBody,
  ExecResult,
  IO_LIMITS,
  SandboxIdParams,
  WsExecMessage,
  WsExecStart,
} from "@wrenn/contract";
import type { Static } from "typebox";
import type { WebSocket } from "ws";
import type { ProcessRun } from "../../commands/process-run.js";
import { ServiceError } from "../../service/errors.js";
import type { Principal } from "../../service/sandbox-types.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import {
  CLOSE_NORMAL,
  closeWithError,
  heartbeat,
  MessageParser,
  reportInputError,
  START_TIMEOUT_MS,
  sendBytes,
  sendJson,
} from "./ws-session.js";

const tags = ["exec"];
const security = [{ apiKey: [] }];
/** First byte of an output frame on the exec WebSocket. */
export const CHANNEL = { stdout: 1, stderr: 2 } as const;

const startParser = new MessageParser<Static<typeof WsExecStart>>(WsExecStart);
const messageParser = new MessageParser<Static<typeof WsExecMessage>>(WsExecMessage);

export const execRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { exec } = deps;

  app.post(
    "/sandboxes/:id/exec",
    {
      bodyLimit: IO_LIMITS.execBodyBytes,
      schema: {
        tags,
        security,
        summary: "Run a command to its end and get its exit code and output",
        description: `Give \`cmd\` (with \`args\`) or \`command\` (a shell line for /bin/bash -l -c). stdin, when given, is written and then closed. The process is killed after \`timeoutSeconds\` (default 60; the result says timedOut). Output: all of it is read, and the first ${IO_LIMITS.execOutputBytes} bytes of each of stdout and stderr are returned; beyond that the result says truncated, with the full sizes in stdoutBytes and stderrBytes. For long or interactive commands, or output of any size, use the WebSocket at /v1/sandboxes/{id}/exec/stream, which carries all of it at the pace its reader takes it.`,
        params: SandboxIdParams,
        body: ExecBody,
        response: { 200: ExecResult, ...commonErrors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.stdin !== undefined && body.stdinBase64 !== undefined)
        throw new ServiceError("invalid_request", "give stdin or stdinBase64, not both");
      const stdin =
        body.stdinBase64 !== undefined
          ? Buffer.from(body.stdinBase64, "base64")
          : body.stdin !== undefined
            ? Buffer.from(body.stdin, "utf8")
            : undefined;
      // The client hanging up kills the command.
      const gone = new AbortController();
      reply.raw.once("close", () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const result = await exec.run(
        principalOf(request),
        request.params.id,
        { ...body, stdin },
        gone.signal,
      );
      const encoding = body.encoding ?? "utf8";
      const text = (b: Uint8Array) =>
        Buffer.from(b).toString(encoding === "base64" ? "base64" : "utf8");
      return {
        exitCode: result.exitCode,
        status: result.status,
        ...(result.error ? { error: result.error } : {}),
        stdout: text(result.stdout),
        stderr: text(result.stderr),
        encoding,
        timedOut: result.timedOut,
        truncated: result.truncated,
        stdoutBytes: result.stdoutBytes,
        stderrBytes: result.stderrBytes,
        durationMs: result.durationMs,
      };
    },
  );

  app.get(
    "/sandboxes/:id/exec/stream",
    {
      websocket: true,
      schema: {
        tags: ["exec"],
        security: [{ apiKey: [] }],
        summary: "WebSocket: run a command and stream its stdin, stdout and stderr",
        description:
          'Upgrade to a WebSocket. Send `{"type":"start","command":"..."}` first; stdout and stderr arrive as binary frames (first byte 1 or 2), then `{"type":"exit","exitCode":N}`. The full protocol is in the API description above (WebSockets).',
        params: SandboxIdParams,
      },
      // Refused with an HTTP status before the upgrade when the sandbox is not the caller's.
      preHandler: async (request) => exec.checkAccess(principalOf(request), request.params.id),
    },
    (socket, request) => {
      execSocket(socket, deps, principalOf(request), request.params.id);
    },
  );
};

/** The exec WebSocket protocol (see the README): a start message, then stdin/eof/signal. */
function execSocket(socket: WebSocket, deps: ApiDeps, principal: Principal, sandboxId: string) {
  heartbeat(socket);
  let state: "waiting" | "starting" | "running" | "done" = "waiting";
  let run: ProcessRun | undefined;
  let stdinOpen = false;
  let timedOut = false;
  let timeout: NodeJS.Timeout | undefined;
  const early: { raw: Buffer; isBinary: boolean }[] = [];

  const startTimer = setTimeout(
    () => closeWithError(socket, new ServiceError("start_timeout", "no start message")),
    START_TIMEOUT_MS,
  );

  const handle = async (raw: Buffer, isBinary: boolean) => {
    if (!run) return;
    const message = messageParser.parse(raw, isBinary);
    if (message.kind === "json" && message.value.type === "signal") {
      await run.signal(message.value.signal);
      return;
    }
    if (!stdinOpen)
      throw new ServiceError("stdin_closed", "stdin is closed (or was not asked for)");
    if (message.kind === "binary") return run.write(message.data);
    const m = message.value;
    if (m.type === "eof") {
      stdinOpen = false;
      return run.closeStdin();
    }
    if (m.type === "stdin") {
      if ((m.data === undefined) === (m.dataBase64 === undefined))
        throw new ServiceError("invalid_message", "a stdin message has data or dataBase64");
      return run.write(
        m.data !== undefined ? Buffer.from(m.data, "utf8") : Buffer.from(m.dataBase64!, "base64"),
      );
    }
  };
  const report = (error: unknown) => reportInputError(socket, error);

  const start = async (raw: Buffer, isBinary: boolean) => {
    const message = startParser.parse(raw, isBinary);
    if (message.kind !== "json")
      throw new ServiceError("invalid_message", "the first message must be a start message");
    const { type: _type, stdin, ...command } = message.value;
    stdinOpen = stdin ?? true;
    const started = await deps.exec.startStream(principal, sandboxId, command, {
      stdin: stdinOpen,
    });
    run = started.run;
    if (socket.readyState !== socket.OPEN) {
      await run.kill();
      run.cancel();
      return;
    }
    state = "running";
    sendJson(socket, { type: "started", pid: run.pid });
    if (started.spec.timeoutSeconds > 0) {
      timeout = setTimeout(() => {
        timedOut = true;
        void run?.kill();
      }, started.spec.timeoutSeconds * 1000);
    }
    for (const m of early.splice(0)) await handle(m.raw, m.isBinary).catch(report);
    void pump(run);
  };

  const pump = async (r: ProcessRun) => {
    try {
      for await (const chunk of r.output()) {
        const frame = Buffer.allocUnsafe(chunk.data.byteLength + 1);
        frame[0] = chunk.stream === "stderr" ? CHANNEL.stderr : CHANNEL.stdout;
        frame.set(chunk.data, 1);
        await sendBytes(socket, frame);
      }
      state = "done";
      clearTimeout(timeout);
      const end = r.end!;
      // The exit message after the run's audit event is written, as a one-shot exec answers.
      await r.recorded;
      sendJson(socket, {
        type: "exit",
        exitCode: end.exitCode,
        status: end.status,
        ...(end.error ? { error: end.error } : {}),
        timedOut,
      });
      socket.close(CLOSE_NORMAL, "exited");
    } catch (error) {
      state = "done";
      clearTimeout(timeout);
      closeWithError(socket, error);
    }
  };

  socket.on("message", (data, isBinary) => {
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (state === "waiting") {
      clearTimeout(startTimer);
      state = "starting";
      start(raw, isBinary).catch((error: unknown) => {
        state = "done";
        closeWithError(socket, error);
      });
    } else if (state === "starting") {
      if (early.length >= 256) {
        closeWithError(socket, new ServiceError("too_many_messages", "wait for started"));
        return;
      }
      early.push({ raw, isBinary });
    } else if (state === "running") {
      handle(raw, isBinary).catch(report);
    }
  });

  socket.on("close", () => {
    clearTimeout(startTimer);
    clearTimeout(timeout);
    // Hanging up ends the command: nobody is left to read its output.
    if (run && !run.end) void run.kill().finally(() => run?.cancel());
  });
}
