import http from "node:http";
import type { Duplex } from "node:stream";
import {
  AGENT_TOKEN_HEADER,
  ENVD_PORT,
  type ErrorCode,
  e2bPortNotOpen,
  FORWARD_ERROR_STYLE_HEADER,
  FORWARD_PORT_HEADER,
  FORWARD_RELAY_HEADER,
  FORWARD_SANDBOX_HEADER,
  httpStatusOf,
  prependServerTiming,
  SERVER_TIMING_HEADER,
  TRACE_HEADER,
  TraceClock,
  traceIdOf,
} from "@wrenn/contract";
import { cutOnPurpose, installRelayRules, onUpstreamConnected } from "@wrenn/http-relay";
import { createProxyServer } from "http-proxy-3";
import type { Logger } from "pino";
import { AgentError } from "../sandboxes/errors.js";
import type { SandboxManager } from "../sandboxes/sandbox-manager.js";
import { relayTcp } from "./tcp-relay.js";

export const FORWARD_SANDBOX = FORWARD_SANDBOX_HEADER;
export const FORWARD_PORT = FORWARD_PORT_HEADER;
/** The agent token on forwarded requests (Authorization belongs to the sandbox's traffic). */
export const FORWARD_TOKEN = AGENT_TOKEN_HEADER;

/**
 * Carries HTTP and WebSocket traffic from the control plane's proxy to a port of a sandbox,
 * streaming both ways. Our own headers are removed before the request reaches the sandbox.
 */
export class Forwarder {
  private readonly proxy = createProxyServer({ xfwd: false, ws: true, proxyTimeout: 0 });
  // Keep-alive towards the sandbox: envd must never be the side that closes first (a
  // TIME_WAIT socket inside gVisor cannot be checkpointed). envd resets these at quiesce.
  private readonly upstream = new http.Agent({ keepAlive: true, maxSockets: 256 });
  /** Requests whose refusal must read as E2B's edge (FORWARD_ERROR_STYLE_HEADER). */
  private readonly e2bStyle = new WeakMap<
    http.IncomingMessage,
    { sandboxId: string; port: number }
  >();
  /** Traced requests (TRACE_HEADER, set only by the control plane for a known caller). */
  private readonly traces = new WeakMap<http.IncomingMessage, TraceClock<"agent">>();
  /** In-flight forwarded exchanges per sandbox, so a destroy can end them at once. */
  private readonly inFlight = new Map<string, Set<{ destroy(): void }>>();

  constructor(
    private readonly manager: SandboxManager,
    private readonly log: Logger,
    private readonly onError: () => void,
  ) {
    installRelayRules(this.proxy);
    this.proxy.on("proxyReq", (proxyReq, req) => {
      const trace = this.traces.get(req);
      if (!trace) return;
      onUpstreamConnected(proxyReq, () => trace.mark("connect"));
    });
    this.proxy.on("proxyRes", (proxyRes, req) => {
      const trace = this.traces.get(req);
      if (!trace) return;
      trace.mark("first-byte");
      proxyRes.headers[SERVER_TIMING_HEADER] = prependServerTiming(
        trace.header(),
        proxyRes.headers[SERVER_TIMING_HEADER],
      );
    });
    this.proxy.on("error", (err, req, res) => {
      if (cutOnPurpose(req)) return;
      this.onError();
      this.log.debug({ err: err.message }, "forward failed");
      if (res instanceof http.ServerResponse) {
        const e2b = this.e2bStyle.get(req);
        if (!res.headersSent && e2b) {
          const body = JSON.stringify(e2bPortNotOpen(e2b.sandboxId, e2b.port));
          res.writeHead(502, { "content-type": "application/json" });
          res.end(body);
        } else if (!res.headersSent) {
          sendError(
            res,
            httpStatusOf("port_unreachable"),
            "port_unreachable",
            unreachableMessage(err),
          );
        } else res.destroy();
      } else (res as Duplex | undefined)?.destroy();
    });
  }

  static wants(req: http.IncomingMessage): boolean {
    return req.headers[FORWARD_SANDBOX] !== undefined;
  }

  web(req: http.IncomingMessage, res: http.ServerResponse): void {
    const start = performance.now();
    const target = this.resolve(req);
    const traceId = traceIdOf(req.headers[TRACE_HEADER]);
    // Only envd reads the id; a user's server in the sandbox has no use for it.
    if (!("error" in target) && target.port !== ENVD_PORT) delete req.headers[TRACE_HEADER];
    if (traceId !== undefined && !("error" in target)) {
      const trace = new TraceClock(traceId, "agent", (line) => this.log.info(line, "trace"), start);
      trace.mark("accept");
      this.traces.set(req, trace);
      res.once("finish", () => trace.mark("done"));
    }
    if ("error" in target) {
      sendError(res, target.status, target.code, target.error);
      return;
    }
    this.hold(target.sandboxId, res);
    if (target.e2bStyle) this.e2bStyle.set(req, { sandboxId: target.sandboxId, port: target.port });
    this.proxy.web(req, res, { target: target.url, agent: this.upstream });
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const relay = req.headers[FORWARD_RELAY_HEADER];
    delete req.headers[FORWARD_RELAY_HEADER];
    const target = this.resolve(req);
    delete req.headers[TRACE_HEADER];
    if ("error" in target) {
      socket.end(
        `HTTP/1.1 ${target.status} ${http.STATUS_CODES[target.status]}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${errorBody(target.code, target.error)}`,
      );
      return;
    }
    this.hold(target.sandboxId, socket);
    if (relay === "tcp") {
      relayTcp(req, socket, head, target.host, target.port, this.log);
      return;
    }
    this.proxy.ws(req, socket, head, { target: target.url });
  }

  /**
   * Ends every exchange still open with a sandbox that is going away. Without this a process
   * stream (E2B's commands) would wait on a sandbox network that no longer answers until the
   * client's deadline; cut, the client sees the connection drop, finds the sandbox gone (502 on
   * /health) and reports it killed.
   */
  cut(sandboxId: string): void {
    const open = this.inFlight.get(sandboxId);
    if (!open) return;
    this.inFlight.delete(sandboxId);
    for (const exchange of open) exchange.destroy();
  }

  private hold(sandboxId: string, exchange: http.ServerResponse | Duplex): void {
    const open = this.inFlight.get(sandboxId) ?? new Set();
    this.inFlight.set(sandboxId, open);
    open.add(exchange);
    exchange.once("close", () => {
      open.delete(exchange);
      if (open.size === 0 && this.inFlight.get(sandboxId) === open) this.inFlight.delete(sandboxId);
    });
  }

  private resolve(
    req: http.IncomingMessage,
  ):
    | { url: string; host: string; sandboxId: string; port: number; e2bStyle: boolean }
    | { status: number; code: ErrorCode; error: string } {
    const sandboxId = String(req.headers[FORWARD_SANDBOX] ?? "");
    const portText = String(req.headers[FORWARD_PORT] ?? ENVD_PORT);
    const e2bStyle = req.headers[FORWARD_ERROR_STYLE_HEADER] === "e2b";
    delete req.headers[FORWARD_ERROR_STYLE_HEADER];
    delete req.headers[FORWARD_SANDBOX];
    delete req.headers[FORWARD_PORT];
    delete req.headers[FORWARD_TOKEN];
    // An id that is not one of ours in form (too long, odd characters) goes no further.
    if (traceIdOf(req.headers[TRACE_HEADER]) === undefined) delete req.headers[TRACE_HEADER];
    const port = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
      return refusal("invalid_port", `invalid port ${JSON.stringify(portText)}`);
    }
    if (port === ENVD_PORT && req.url?.startsWith("/_wrenn/")) {
      return refusal("forbidden", "this path of envd is for the host agent only");
    }
    try {
      const { host } = this.manager.target(sandboxId);
      return { url: `http://${host}:${port}`, host, sandboxId, port, e2bStyle };
    } catch (err) {
      if (err instanceof AgentError && err.code === "not_found") {
        return refusal("sandbox_not_found", err.message);
      }
      if (err instanceof AgentError && err.code === "failed_precondition") {
        return refusal("sandbox_not_running", err.message);
      }
      return refusal("port_unreachable", (err as Error).message);
    }
  }
}

/** A forwarding refusal: a contract code, with its status from the registry. */
const refusal = (code: ErrorCode, error: string) => ({ status: httpStatusOf(code), code, error });

/**
 * What a client is told when the sandbox's port did not answer. Never the error's own message:
 * Node's names the sandbox's internal address and port ("connect ECONNREFUSED 10.x.y.z:8080").
 */
export function unreachableMessage(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ECONNREFUSED":
      return "the sandbox did not answer: nothing listens on this port";
    case "ECONNRESET":
      return "the sandbox did not answer: the connection was reset";
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "the sandbox did not answer: it cannot be reached";
    default:
      return "the sandbox did not answer";
  }
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

export function sendError(
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(errorBody(code, message));
}
