import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { Duplex } from "node:stream";
import {
  AGENT_TOKEN_HEADER,
  API_KEY_HEADER,
  E2B_TRAFFIC_TOKEN_HEADER,
  ENVD_ACCESS_TOKEN_HEADER,
  ENVD_PORT,
  FORWARD_ERROR_STYLE_HEADER,
  FORWARD_PORT_HEADER,
  FORWARD_RELAY_HEADER,
  FORWARD_SANDBOX_HEADER,
  httpStatusOf,
  TRACE_HEADER,
} from "@wrenn/contract";
import { cutOnPurpose, installRelayRules } from "@wrenn/http-relay";
import { createProxyServer } from "http-proxy-3";
import type { Logger } from "pino";
import type { ApiKeyService } from "../service/api-key-service.js";
import type { AuditLog } from "../service/audit-log.js";
import { ServiceError } from "../service/errors.js";
import type { SandboxEndpoint, SandboxService } from "../service/sandbox-service.js";
import { type Observation, observeEnvdTraffic, type TrafficOwner } from "./envd-traffic-audit.js";
import type { PreviewDomain } from "./preview-domain.js";
import { type ProxyRoute, routeOf } from "./proxy-routing.js";
import { type ProxyTrace, startProxyTrace } from "./proxy-trace.js";
import { signedRequestOf, signedWith } from "./signed-files.js";

export interface SandboxProxyOptions {
  sandboxes: SandboxService;
  keys: ApiKeyService;
  audit: AuditLog;
  logger: Logger;
  /** Domain of `<port>-<sandboxId>.<domain>` hosts. */
  domain?: PreviewDomain;
  /** Trace every proxied request, not only those carrying TRACE_HEADER (WRENN_TRACE=1). */
  traceAll?: boolean;
}

interface Resolved {
  endpoint: SandboxEndpoint;
  port: number;
  owner: TrafficOwner;
  /** The caller proved it may use this sandbox (API key, envd or traffic token, signature). */
  authenticated: boolean;
}

/**
 * Headers a client must not choose (ours towards the agent), and credentials the sandbox must
 * not see: our API key and the traffic token.
 */
const STRIPPED = [
  AGENT_TOKEN_HEADER,
  FORWARD_SANDBOX_HEADER,
  FORWARD_PORT_HEADER,
  FORWARD_ERROR_STYLE_HEADER,
  FORWARD_RELAY_HEADER,
  API_KEY_HEADER,
  E2B_TRAFFIC_TOKEN_HEADER,
];

class Refusal {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** E2B's answer for a sandbox that is unknown, paused or gone: isRunning() turns false on it. */
export function e2bNotFound(sandboxId: string): Refusal {
  return new Refusal(502, { message: "The sandbox was not found", sandboxId, code: 502 });
}

const wrennError = (status: number, code: string, message: string) =>
  new Refusal(status, { error: { code, message } });

/**
 * Carries traffic to sandbox ports through the host agent that holds the sandbox: E2B's envd
 * plane (headers or host names, no API key: envd checks its own token), our
 * /v1/sandboxes/{id}/ports/{port}/... (API key, owner checked) and signed /files URLs. HTTP and
 * WebSocket, streamed both ways without buffering.
 */
export class SandboxProxy {
  private readonly proxy = createProxyServer({ xfwd: false, ws: true, proxyTimeout: 0 });
  private readonly upstream = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly open = new Set<Duplex>();
  private readonly observations = new WeakMap<http.IncomingMessage, Observation>();
  private readonly traces = new WeakMap<http.IncomingMessage, ProxyTrace>();

  constructor(private readonly options: SandboxProxyOptions) {
    installRelayRules(this.proxy);
    this.proxy.on("proxyReq", (proxyReq, req) => this.traces.get(req)?.onUpstream(proxyReq));
    this.proxy.on("proxyRes", (proxyRes, req, res) => {
      this.traces.get(req)?.onResponse(proxyRes);
      this.observations.get(req)?.onResponse(proxyRes);
      // The agent cuts a sandbox's streams when it is destroyed: pass the cut on, so the client
      // sees its connection drop at once instead of a stream that never ends.
      proxyRes.once("close", () => {
        if (!proxyRes.complete) res.destroy();
      });
    });
    this.proxy.on("error", (error, req, res) => {
      if (cutOnPurpose(req)) return;
      this.options.logger.warn(
        // Without the query: a signed URL's signature is a credential for its file.
        { err: error.message, path: req.url?.split("?")[0] },
        "proxy: the host agent did not answer",
      );
      const refusal = new Refusal(502, {
        message: "The sandbox's host did not answer",
        code: 502,
      });
      if (res instanceof http.ServerResponse) {
        if (!res.headersSent) send(res, refusal);
        else res.destroy();
      } else (res as Duplex | undefined)?.destroy();
    });
  }

  /** The proxy's route for a request, or null when it belongs to the API. */
  route(request: http.IncomingMessage): ProxyRoute | null {
    return routeOf(request, this.options.domain?.name);
  }

  web(req: http.IncomingMessage, res: http.ServerResponse, route: ProxyRoute): void {
    this.track(req.socket);
    const trace = startProxyTrace(req, res, this.options.logger, this.options.traceAll === true);
    if (trace) this.traces.set(req, trace);
    this.resolve(req, route, trace)
      .then(({ endpoint, port, owner, authenticated }) => {
        trace?.resolved(req, authenticated);
        const target = endpoint.client.forwardTarget(endpoint.id, port);
        const observation =
          port === ENVD_PORT
            ? observeEnvdTraffic(req, req.url ?? "/", owner, this.options.audit)
            : undefined;
        if (observation) this.observations.set(req, observation);
        this.proxy.web(req, res, {
          target: target.url,
          headers: withErrorStyle(target.headers, route),
          agent: target.tlsAgent ?? this.upstream,
          ...(observation?.requestTap ? { buffer: req.pipe(observation.requestTap) } : {}),
        });
      })
      .catch((error: unknown) => {
        req.resume();
        send(res, this.refusalOf(error, route));
      });
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, route: ProxyRoute): void {
    this.track(socket);
    // WebSocket upgrades are not traced: the id would only reach the sandbox.
    delete req.headers[TRACE_HEADER];
    socket.on("error", () => socket.destroy());
    this.resolve(req, route)
      .then(({ endpoint, port }) => {
        const target = endpoint.client.forwardTarget(endpoint.id, port);
        this.proxy.ws(req, socket, head, {
          target: target.url,
          headers: withErrorStyle(target.headers, route),
          ...(target.tlsAgent ? { agent: target.tlsAgent } : {}),
        });
      })
      .catch((error: unknown) => {
        const refusal = this.refusalOf(error, route);
        const body = JSON.stringify(refusal.body);
        socket.end(
          `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
  }

  /** Cuts every proxied connection: streams may be open for as long as a process runs. */
  close(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
    this.upstream.destroy();
  }

  private track(socket: Duplex): void {
    if (this.open.has(socket)) return;
    this.open.add(socket);
    socket.once("close", () => this.open.delete(socket));
  }

  private async resolve(
    req: http.IncomingMessage,
    route: ProxyRoute,
    trace?: ProxyTrace,
  ): Promise<Resolved> {
    const apiKey = req.headers["x-api-key"];
    const trafficToken = req.headers[E2B_TRAFFIC_TOKEN_HEADER];
    // The sandbox never sees our API key, and a client cannot speak for the control plane.
    for (const name of STRIPPED) delete req.headers[name];
    trace?.mark("auth");
    switch (route.kind) {
      case "invalid":
        throw route.style === "e2b"
          ? new Refusal(route.status, { message: route.message, code: route.status })
          : wrennError(route.status, "invalid_request", route.message);
      case "sandbox": {
        const endpoint = await this.options.sandboxes.endpointWaking(null, route.sandboxId);
        trace?.mark("lookup");
        // envd checks its own token; a user port is public unless the owner turned that off.
        const required = route.port === ENVD_PORT ? null : endpoint.trafficAccessToken;
        if (required !== null && !sameToken(trafficToken, required)) {
          throw new Refusal(403, {
            message: `Sandbox ${route.sandboxId} does not allow public traffic: send its traffic access token in the ${E2B_TRAFFIC_TOKEN_HEADER} header`,
            sandboxId: route.sandboxId,
            code: 403,
          });
        }
        return {
          endpoint,
          port: route.port,
          owner: { ...ownerOf(endpoint), actor: "proxy", apiKeyId: null, via: "e2b" },
          // Only for the trace: envd still checks its own token itself.
          authenticated:
            required !== null ||
            (route.port === ENVD_PORT &&
              sameToken(req.headers[ENVD_ACCESS_TOKEN_HEADER], endpoint.envdAccessToken)),
        };
      }
      case "port": {
        const principal = await this.options.keys.authenticate(
          Array.isArray(apiKey) ? undefined : apiKey,
        );
        trace?.mark("auth");
        const endpoint = await this.options.sandboxes.endpointWaking(
          principal,
          await this.options.sandboxes.resolveId(principal, route.sandboxId),
        );
        trace?.mark("lookup");
        req.url = route.url;
        return {
          endpoint,
          port: route.port,
          owner: { ...ownerOf(endpoint), actor: "api", apiKeyId: principal.keyId, via: "port" },
          authenticated: true,
        };
      }
      case "signed": {
        const signed = signedRequestOf(req.method, req.url ?? "/");
        if (signed) {
          for (const endpoint of await this.options.sandboxes.runningEndpoints()) {
            if (signedWith(signed, endpoint.envdAccessToken)) {
              return {
                endpoint,
                port: ENVD_PORT,
                owner: { ...ownerOf(endpoint), actor: "proxy", apiKeyId: null, via: "signed-url" },
                authenticated: true,
              };
            }
          }
        }
        throw new Refusal(404, {
          code: 404,
          message:
            "no running sandbox matches this signed URL (paused, gone, or a wrong signature)",
        });
      }
      case "token": {
        const given = digest(route.token);
        for (const endpoint of await this.options.sandboxes.runningEndpoints()) {
          if (timingSafeEqual(given, digest(endpoint.envdAccessToken))) {
            return {
              endpoint,
              port: ENVD_PORT,
              owner: { ...ownerOf(endpoint), actor: "proxy", apiKeyId: null, via: "e2b" },
              authenticated: true,
            };
          }
        }
        // What E2B answers for a sandbox that is not running: isRunning() turns false on it.
        throw new Refusal(502, { message: "The sandbox was not found", code: 502 });
      }
    }
  }

  private refusalOf(error: unknown, route: ProxyRoute): Refusal {
    if (error instanceof Refusal) return error;
    const e2b = route.kind === "sandbox";
    if (error instanceof ServiceError) {
      if (e2b && (httpStatusOf(error.code) === 404 || error.code === "sandbox_not_running"))
        return e2bNotFound(route.sandboxId);
      if (e2b)
        return new Refusal(502, { message: error.message, sandboxId: route.sandboxId, code: 502 });
      return wrennError(httpStatusOf(error.code), error.code, error.message);
    }
    this.options.logger.error({ err: error }, "proxy: routing failed");
    return e2b
      ? new Refusal(502, { message: "internal error", sandboxId: route.sandboxId, code: 502 })
      : wrennError(500, "internal_error", "internal error; see the control plane's log");
  }
}

/** Fixed-length form of a token, so comparing two takes the same time whatever they hold. */
const digest = (token: string) => createHash("sha256").update(token).digest();

function sameToken(given: string | string[] | undefined, expected: string): boolean {
  return typeof given === "string" && timingSafeEqual(digest(given), digest(expected));
}

/** E2B's plane (its host names and headers) gets E2B's answer for a port that is not open. */
function withErrorStyle(headers: Record<string, string>, route: ProxyRoute) {
  return route.kind === "sandbox" ? { ...headers, [FORWARD_ERROR_STYLE_HEADER]: "e2b" } : headers;
}

function ownerOf(endpoint: SandboxEndpoint) {
  return { sandboxId: endpoint.id, ownerId: endpoint.ownerId };
}

function send(res: http.ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(refusal.body);
  res.writeHead(refusal.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}
