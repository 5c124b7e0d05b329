import {
  createServer as createHttpServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { type ConnectionOptions, TLSSocket, connect as tlsConnect } from "node:tls";
import { egressHostName } from "@wrenn/contract";
import type { NetworkLogger } from "../logger.js";
import type { SandboxCa } from "./sandbox-ca.js";

/** One intercepted connection: where it goes and how its requests are rewritten. */
export interface InjectedFlow {
  readonly kind: "http" | "tls";
  readonly sandboxId: string;
  /** The name the connection was allowed by (SNI or the first request's Host). */
  readonly name: string;
  /** The address the proxy resolved the name to. */
  readonly address: string;
  /**
   * The headers to set now (read per request, so a policy update applies to the next request),
   * or undefined when the rules no longer cover the name (requests pass unchanged).
   */
  readonly headers: () => Array<[string, string]> | undefined;
  /**
   * Opens the upstream connection (TCP to the name's port) when it must not go direct: the
   * sandbox's egressProxy. TLS to the real server then runs inside it, verified as ever.
   */
  readonly dial?: () => Promise<Socket>;
}

export interface InjectorOptions {
  /** Certificates the real servers are verified against (system roots and the operator's). */
  readonly upstreamCa: readonly string[];
  readonly log: NetworkLogger;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): about one connection, never forwarded. The proxy
 * speaks HTTP/1.1 keep-alive on each side by itself.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

interface FlowState extends InjectedFlow {
  /** One upstream connection per sandbox connection: requests stay in order, one at a time. */
  readonly agent: HttpAgent;
}

/**
 * Header rules (network.rules) on HTTP and HTTPS: the egress proxy hands over connections to a
 * name with rules here instead of splicing them. HTTPS is terminated with a certificate for the
 * SNI name signed by the sandbox's own CA (ALPN http/1.1 only), each request is parsed by Node's
 * HTTP server, gets the rule's headers (replacing any the sandbox sent with the same name), and
 * is sent to the resolved address over a new TLS connection that verifies the real server for
 * that name. Responses come back unchanged but for hop-by-hop headers.
 */
export class HeaderInjector {
  private readonly server: Server;
  private readonly flows = new WeakMap<object, FlowState>();

  constructor(private readonly options: InjectorOptions) {
    // Not listening: connections are handed to it with emit("connection").
    this.server = createHttpServer({ requestTimeout: 0, keepAliveTimeout: 60_000 });
    this.server.on("request", (req, res) => this.onRequest(req, res));
    // WebSocket and CONNECT cannot carry injected headers past their first message: refused
    // (Node destroys the socket when no listener is present; an answer says why).
    const refuseTunnel = (_req: IncomingMessage, socket: Duplex) => {
      socket.end("HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    };
    this.server.on("upgrade", refuseTunnel);
    this.server.on("connect", refuseTunnel);
    this.server.on("clientError", (_err, socket) => socket.destroy());
  }

  /**
   * Takes over `client` (paused, `head` already read from it). For TLS, `ca` presents the leaf.
   * Closing `client` ends everything of the flow.
   */
  async intercept(client: Socket, head: Buffer, flow: InjectedFlow, ca?: SandboxCa): Promise<void> {
    const replay = replayed(client, head);
    let downstream: Duplex = replay;
    const agent =
      flow.kind === "tls"
        ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
        : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    if (flow.dial) agent.createConnection = dialing(flow.dial, flow.kind === "tls");
    client.on("close", () => agent.destroy());
    if (flow.kind === "tls") {
      if (!ca) throw new Error("TLS interception needs the sandbox's CA");
      const secureContext = await ca.contextFor(flow.name);
      if (client.destroyed) return;
      const tls = new TLSSocket(replay, {
        isServer: true,
        secureContext,
        // Header injection reads HTTP/1 requests: a client offering h2 gets http/1.1.
        ALPNProtocols: ["http/1.1"],
      });
      tls.on("error", (err) => {
        this.options.log.info(
          { sandboxId: flow.sandboxId, name: flow.name, err: err.message },
          "egress TLS handshake with the sandbox failed (does it trust the sandbox CA?)",
        );
        client.destroy();
      });
      downstream = tls;
    }
    this.flows.set(downstream, { ...flow, agent });
    this.server.emit("connection", downstream);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const flow = this.flows.get(req.socket);
    if (!flow) {
      res.destroy();
      return;
    }
    const ctx = { sandboxId: flow.sandboxId, name: flow.name, kind: flow.kind };
    // A later request on the same connection naming another host would ride on this one's
    // permission (and receive its headers): refused.
    const host = egressHostName((req.headers.host ?? "").replace(/:\d{1,5}$/, ""));
    if (host !== flow.name) {
      this.options.log.info({ ...ctx, host: req.headers.host?.slice(0, 255) }, "egress refused");
      answer(res, 421, `Wrenn egress: Host does not match the connection's name ${flow.name}`);
      return;
    }
    const inject = flow.headers() ?? [];
    const headers = forwardedHeaders(req.headers, inject);
    headers.host = req.headers.host!;
    const tls = flow.kind === "tls";
    const upstream = (tls ? httpsRequest : httpRequest)({
      // Through an egressProxy there is no address: the dialer asks the proxy for the name.
      host: flow.address || flow.name,
      port: tls ? 443 : 80,
      method: req.method,
      path: req.url,
      headers,
      agent: flow.agent,
      setHost: false,
      ...(tls
        ? { servername: flow.name, ca: [...this.options.upstreamCa], ALPNProtocols: ["http/1.1"] }
        : {}),
    });
    upstream.on("response", (up) => {
      const raw: string[] = [];
      for (let i = 0; i + 1 < up.rawHeaders.length; i += 2) {
        const name = up.rawHeaders[i]!;
        const lower = name.toLowerCase();
        if (HOP_BY_HOP.has(lower) && lower !== "transfer-encoding") continue;
        raw.push(name, up.rawHeaders[i + 1]!);
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
      up.pipe(res);
      up.on("error", () => res.destroy());
    });
    upstream.on("error", (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      this.options.log.info({ ...ctx, address: flow.address, err: code }, "egress upstream failed");
      if (!res.headersSent)
        answer(res, 502, `Wrenn egress: upstream ${flow.name} failed (${code})`);
      else res.destroy();
    });
    req.on("error", () => upstream.destroy());
    req.pipe(upstream);
    this.options.log.debug(
      { ...ctx, injected: inject.map(([k]) => k) },
      "egress request with header rules",
    );
  }
}

/** The sandbox's request headers without hop-by-hop ones, with the rule's set or replaced. */
function forwardedHeaders(
  incoming: IncomingHttpHeaders,
  inject: ReadonlyArray<[string, string]>,
): Record<string, string | string[]> {
  const replaced = new Set(inject.map(([k]) => k.toLowerCase()));
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(incoming)) {
    if (v === undefined || HOP_BY_HOP.has(k) || replaced.has(k)) continue;
    out[k] = v;
  }
  for (const [k, v] of inject) out[k.toLowerCase()] = v;
  return out;
}

function answer(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * A stream that yields `head` (bytes already read off `client`) and then the rest of
 * `client`, and writes to `client`: what TLS and HTTP parsing need to start from the first byte.
 */
function replayed(client: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() {
      client.resume();
    },
    write(chunk, _enc, cb) {
      client.write(chunk, cb);
    },
    final(cb) {
      client.end();
      cb();
    },
    destroy(err, cb) {
      client.destroy();
      cb(err);
    },
  });
  d.push(head);
  client.on("data", (chunk: Buffer) => {
    if (!d.push(chunk)) client.pause();
  });
  client.on("end", () => d.push(null));
  client.on("close", () => d.destroy());
  return d;
}

/**
 * An Agent's createConnection that opens its socket with `dial` (the SOCKS5 tunnel), then
 * speaks TLS over it with the request's own options (servername, ca) when `tls`.
 */
function dialing(dial: () => Promise<Socket>, tls: boolean): HttpAgent["createConnection"] {
  return (options, callback) => {
    dial().then(
      (socket) => {
        // socks5Connect hands the socket over paused; the HTTP client only adds a listener.
        const stream = tls
          ? tlsConnect({ ...(options as ConnectionOptions), socket })
          : socket.resume();
        callback?.(null, stream);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  };
}
