import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ENVD_ACCESS_TOKEN_HEADER, ENVD_PORT } from "@wrenn/contract";
import { Filesystem } from "@wrenn/proto/filesystem";
import { Process } from "@wrenn/proto/process";
import type { MetadataStore } from "../filesystem/metadata.js";
import { filesystemService } from "../filesystem/service.js";
import type { Logger } from "../log/logger.js";
import { sampleMetrics } from "../metrics/sample.js";
import type { ProcessRegistry } from "../process/registry.js";
import { processService } from "../process/service.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { ENVD_VERSION } from "../version.js";
import { handleFilesGet } from "./files-get.js";
import { handleFilesPost } from "./files-post.js";
import { handleInit } from "./init.js";
import { pathnameOf } from "./query.js";
import { bodyPending, closeWithoutFin, refuse } from "./refuse.js";
import { withRequestTrace } from "./request-trace.js";
import { json, jsonError } from "./respond.js";
import { describeBareRpcErrors } from "./rpc-errors.js";
import { TcpRelay } from "./tcp-relay.js";

export interface EnvdDeps {
  state: SandboxState;
  registry: ProcessRegistry;
  metadata: MetadataStore;
  binDir: string;
  log: Logger;
}

// /files takes the token as a header or as a signature made with it (E2B §3e): it checks
// either itself, still before reading any of the body. Every other route but GET /health needs
// X-Access-Token once a token is set, /init included: nothing of a request's body is read
// before its sender is known (a caller without the token could otherwise make envd read, and
// the connection carry, whatever it sends).
const SIGNED_ROUTES = new Set(["GET /files", "POST /files"]);

/**
 * envd's HTTP front: plain routes, then Connect (JSON and binary, gRPC-web) for the process
 * and filesystem services. Owns the listener, so it can drop every TCP endpoint for a gVisor
 * checkpoint (quiesce) and listen again after the restore (resume).
 */
export class EnvdServer {
  readonly #deps: EnvdDeps;
  readonly #rpc: ReturnType<typeof connectNodeAdapter>;
  readonly #sockets = new Set<Socket>();
  readonly #relay: TcpRelay;
  #server: Server | undefined;
  #host = "0.0.0.0";
  #port = ENVD_PORT;
  #quiesced = false;
  /** While quiesced nothing else may hold the event loop open; this timer keeps envd alive. */
  #stayAlive: NodeJS.Timeout | undefined;

  constructor(deps: EnvdDeps) {
    this.#deps = deps;
    this.#relay = new TcpRelay(deps.state, deps.log);
    this.#rpc = connectNodeAdapter({
      routes: (router) => {
        router.service(Process, processService(deps));
        router.service(Filesystem, filesystemService(deps));
      },
      readMaxBytes: 32 * 1024 * 1024,
      jsonOptions: { ignoreUnknownFields: true },
    });
  }

  get quiesced(): boolean {
    return this.#quiesced;
  }

  async listen(host: string, port: number): Promise<number> {
    this.#host = host;
    this.#port = port;
    return this.#open();
  }

  #open(): Promise<number> {
    const server = createServer(
      {
        // Streams and uploads may run for hours; envd never times a request out by itself.
        requestTimeout: 0,
        headersTimeout: 60_000,
        // envd never closes an idle connection first: the closing side keeps the endpoint in
        // TIME_WAIT, and gVisor cannot checkpoint one. Clients close; dead peers are found by
        // TCP keepalive (set per socket below).
        keepAliveTimeout: 0,
        noDelay: true,
      },
      (req, res) => this.#handle(req, res),
    );
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.setKeepAlive(true, 60_000);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#relay.handle(req, socket, head),
    );
    server.on("clientError", (_error, socket: Socket) => {
      if (socket.writable) {
        socket.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        closeWithoutFin(socket);
      } else {
        socket.destroy();
      }
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, this.#host, () => {
        server.removeListener("error", reject);
        const address = server.address();
        const port = typeof address === "object" && address ? address.port : this.#port;
        // Listen on the same port after a restore, even when port 0 picked it.
        this.#port = port;
        resolve(port);
      });
    });
  }

  /** After a gVisor restore (SIGUSR2): accept connections again. */
  async resume(): Promise<boolean> {
    if (!this.#quiesced) return false;
    await this.#open();
    this.#quiesced = false;
    clearInterval(this.#stayAlive);
    this.#stayAlive = undefined;
    // A sandbox restored from a template checkpoint logs nothing before this line: say which
    // envd runs there.
    this.#deps.log.info(
      { version: ENVD_VERSION, port: this.#port },
      "listening again after quiesce",
    );
    return true;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // "Connection: close" would make envd end the connection first (TIME_WAIT on our side);
    // answer keep-alive and let the client, who asked to close, do it.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1) res.shouldKeepAlive = true;
    const route = `${req.method} ${pathnameOf(req.url ?? "/")}`;
    withRequestTrace(req, this.#deps.log, () => this.#route(route, req, res)).catch(
      (error: unknown) => {
        this.#deps.log.error({ err: error, route }, "request failed");
        if (!res.headersSent) jsonError(res, 500, "internal error");
        else res.destroy();
      },
    );
  }

  async #route(route: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { state, log } = this.#deps;
    if (route === "GET /health") {
      // Open to anyone: so it reads nothing, and keeps no connection busy with a body.
      if (bodyPending(req)) return refuse(req, res, 400, "GET /health takes no body");
      res.writeHead(204, { "cache-control": "no-store" });
      res.end();
      return;
    }
    if (!SIGNED_ROUTES.has(route) && state.token.isSet()) {
      const header = req.headers[ENVD_ACCESS_TOKEN_HEADER];
      if (typeof header !== "string" || !state.token.matches(header)) {
        refuse(
          req,
          res,
          401,
          "unauthorized access, please provide a valid access token or method signing if supported",
        );
        return;
      }
    }
    switch (route) {
      case "GET /version":
        return json(res, 200, { version: ENVD_VERSION });
      case "POST /init":
        return handleInit(req, res, state, log);
      case "GET /envs":
        return json(res, 200, state.envVars);
      case "GET /metrics":
        return json(res, 200, await sampleMetrics());
      case "GET /files":
        return handleFilesGet(req, res, state, this.#deps.binDir);
      case "POST /files":
        return handleFilesPost(req, res, state, this.#deps.metadata, log, this.#deps.binDir);
      case "POST /_wrenn/quiesce":
        return this.#quiesce(req, res);
      default:
        describeBareRpcErrors(req, res);
        this.#rpc(req, res);
    }
  }

  /**
   * Drops every TCP endpoint so gVisor can checkpoint: closes the listener, resets (RST, never
   * FIN) every other connection, answers 204, then resets this connection too once the client
   * closes it (its FIN arrives first, so envd never sends one) or after LINGER_MS.
   * Processes and their output buffers are untouched.
   */
  #quiesce(req: IncomingMessage, res: ServerResponse): void {
    const own = req.socket;
    this.#quiesced = true;
    // With the listener closed and no process running, Node would exit (and the sandbox
    // with it, since envd is init's only child).
    this.#stayAlive ??= setInterval(() => {}, 1 << 30);
    // Reset before closing the listener: since Node 19, close() also ends idle keep-alive
    // connections itself, with a FIN, which would leave them in TIME_WAIT on our side.
    let reset = 0;
    for (const socket of this.#sockets) {
      if (socket === own) continue;
      socket.resetAndDestroy();
      reset++;
    }
    reset += this.#relay.resetAll();
    this.#server?.close();
    this.#server = undefined;
    this.#deps.log.info({ connectionsReset: reset }, "quiesced for checkpoint");
    closeWithoutFin(own);
    res.writeHead(204, { "cache-control": "no-store" });
    res.end();
  }

  /** Stops listening and drops connections (for a clean shutdown). */
  close(): void {
    this.#server?.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}
