import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { SandboxIdParams, TerminalQuery, WsTerminalMessage } from "@wrenn/contract";
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
  sendBytes,
  sendJson,
} from "./ws-session.js";

const parser = new MessageParser<Static<typeof WsTerminalMessage>>(WsTerminalMessage);

export const terminalRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  app.get(
    "/sandboxes/:id/terminal",
    {
      websocket: true,
      schema: {
        tags: ["exec"],
        security: [{ apiKey: [] }],
        summary: "WebSocket: an interactive login shell on a pty",
        description:
          "Upgrade to a WebSocket (Connection: Upgrade, Upgrade: websocket). Binary frames carry keystrokes in and terminal output out; text frames are JSON control messages: `input`, `resize`, `signal` in, `started` and `exit` out. The protocol is in the API description above (WebSockets).",
        params: SandboxIdParams,
        querystring: TerminalQuery,
      },
      preHandler: async (request) => deps.exec.checkAccess(principalOf(request), request.params.id),
    },
    (socket, request) => {
      const q = request.query;
      terminalSocket(socket, deps, principalOf(request), request.params.id, {
        cols: q.cols ?? 80,
        rows: q.rows ?? 24,
        cwd: q.cwd,
        user: q.user,
      });
    },
  );
};

/**
 * An interactive login shell on a pty (see the README for the protocol): binary frames carry
 * keystrokes in and terminal output out; text frames are JSON control messages. Exported for
 * the admin UI's terminal, which authenticates by session cookie instead of X-API-Key.
 */
export function terminalSocket(
  socket: WebSocket,
  deps: ApiDeps,
  principal: Principal,
  sandboxId: string,
  options: { cols: number; rows: number; cwd?: string; user?: string },
) {
  heartbeat(socket);
  let run: ProcessRun | undefined;
  let closed = false;
  const early: { raw: Buffer; isBinary: boolean }[] = [];

  const handle = async (raw: Buffer, isBinary: boolean) => {
    if (!run) return;
    const message = parser.parse(raw, isBinary);
    if (message.kind === "binary") return run.write(message.data);
    const m = message.value;
    if (m.type === "input") return run.write(Buffer.from(m.data, "utf8"));
    if (m.type === "resize") return run.resize(m.cols, m.rows);
    if (m.type === "signal") return run.signal(m.signal);
  };
  const report = (error: unknown) => reportInputError(socket, error);

  socket.on("message", (data, isBinary) => {
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!run) {
      // Keystrokes typed before the shell started are kept, within reason.
      if (early.length >= 256) {
        closeWithError(socket, new ServiceError("too_many_messages", "wait for started"));
        return;
      }
      early.push({ raw, isBinary });
      return;
    }
    handle(raw, isBinary).catch(report);
  });
  socket.on("close", () => {
    closed = true;
    // The shell belongs to this connection: closing the terminal ends it.
    if (run && !run.end) void run.kill().finally(() => run?.cancel());
  });

  deps.exec
    .startTerminal(principal, sandboxId, options)
    .then(async (started) => {
      run = started;
      if (closed) {
        await started.kill();
        started.cancel();
        return;
      }
      sendJson(socket, { type: "started", pid: started.pid });
      for (const m of early.splice(0)) await handle(m.raw, m.isBinary).catch(report);
      for await (const chunk of started.output()) await sendBytes(socket, chunk.data);
      const end = started.end!;
      // The exit message after the session's audit event is written.
      await started.recorded;
      sendJson(socket, {
        type: "exit",
        exitCode: end.exitCode,
        status: end.status,
        ...(end.error ? { error: end.error } : {}),
      });
      socket.close(CLOSE_NORMAL, "exited");
    })
    .catch((error: unknown) => closeWithError(socket, error));
}
