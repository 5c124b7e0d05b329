import { EventEmitter } from "node:events";
import http from "node:http";
import type http2 from "node:http2";
import https from "node:https";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import websocket from "@fastify/websocket";
import { Health, IO_LIMITS } from "@wrenn/contract";
import { acceptBothHttpVersions, type BothHttpVersions } from "@wrenn/http-relay";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { type AdminOptions, adminUi } from "../admin/admin-plugin.js";
import type { SandboxProxy } from "../proxy/sandbox-proxy.js";
import type { AuditLog } from "../service/audit-log.js";
import { checkJsonCharset } from "../service/text-rules.js";
import type { ApiDeps } from "./api-deps.js";
import { authenticate } from "./authentication.js";
import { e2bLifecycleRoutes } from "./e2b/lifecycle-routes.js";
import { e2bSandboxRoutes } from "./e2b/sandbox-routes.js";
import { e2bSecretRoutes } from "./e2b/secret-routes.js";
import { e2bSnapshotRoutes } from "./e2b/snapshot-routes.js";
import { e2bTemplateInfoRoutes } from "./e2b/template-info-routes.js";
import { e2bTemplateRoutes, e2bTemplateUploadRoute } from "./e2b/template-routes.js";
import { e2bUnimplementedRoutes } from "./e2b/unimplemented-routes.js";
import { notFoundHandler, sendProblem } from "./error-handler.js";
import { registerMetrics } from "./metrics-routes.js";
import { API_DESCRIPTION } from "./openapi-description.js";
import { finishDocument } from "./openapi-finish.js";
import { principalOf } from "./request-context.js";
import { createRpcHttp2Server } from "./rpc-http2-server.js";
import { cachedSerializerCompiler, cachedValidatorCompiler } from "./schema-compilers.js";
import { adminRoutes } from "./v1/admin-routes.js";
import { eventRoutes } from "./v1/event-routes.js";
import { execRoutes } from "./v1/exec-routes.js";
import { fileJsonRoutes, fileRoutes } from "./v1/file-routes.js";
import { hostAdminRoutes, hostAgentRoutes } from "./v1/host-routes.js";
import { sandboxRoutes } from "./v1/sandbox-routes.js";
import { secretRoutes } from "./v1/secret-routes.js";
import { snapshotRoutes } from "./v1/snapshot-routes.js";
import { sshKeyRoutes } from "./v1/ssh-key-routes.js";
import { templateRoutes } from "./v1/template-routes.js";
import { terminalRoutes } from "./v1/terminal-routes.js";
import { workspaceRoutes } from "./v1/workspace-routes.js";
import { workspaceSshRoute } from "./v1/workspace-ssh-route.js";

export interface ServerOptions extends ApiDeps {
  /** Who did what: written by the services, read by GET /v1/sandboxes/:id/events. */
  audit: AuditLog;
  logger: Logger;
  version: string;
  /** Largest accepted request body; sandbox requests are small (env vars are the big part). */
  bodyLimit?: number;
  /** Takes sandbox traffic before Fastify sees it (so bodies stream through unparsed). */
  proxy?: SandboxProxy;
  /** The admin UI at /admin; left out, it is not served. */
  admin?: AdminOptions;
  /** Bearer token that may read /metrics (admin keys always may). */
  metricsToken?: string;
  /** A Connect service on this address (hostd.v1.HostService): requests under its prefix. */
  rpc?: RpcMount;
  /** The listener speaks TLS with this certificate and key (WRENN_TLS_CERT / WRENN_TLS_KEY). */
  tls?: { cert: string; key: string };
}

export interface RpcMount {
  prefix: string;
  /** Takes both HTTP versions: Connect and gRPC-web on either, gRPC on HTTP/2 (rpc-http2-server). */
  handler: (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => void;
}

/**
 * One HTTP server for the API and the proxy: sandbox traffic (by header, host name or the
 * /v1/.../ports/ prefix) goes to the proxy as raw Node streams, everything else to Fastify.
 * WebSocket upgrades are split the same way; @fastify/websocket only sees the API's. HTTP/2
 * connections on the same port (gRPC clients: grpcurl, with TLS or -plaintext) reach the RPC
 * service only (rpc-http2-server.ts); HTTP/1.1 ones reach this server as if it were alone.
 */
function serverWithProxy(
  proxy: SandboxProxy | undefined,
  apiUpgrades: EventEmitter,
  rpc: RpcMount | undefined,
  tls: ServerOptions["tls"],
  onBoth: (both: BothHttpVersions) => void,
) {
  return (handler: http.RequestListener): http.Server => {
    const listener: http.RequestListener = (req, res) => {
      const route = proxy?.route(req);
      if (route && proxy) proxy.web(req, res, route);
      // Connect reads its own bodies and writes its own errors: it never passes Fastify.
      else if (rpc && req.url?.startsWith(rpc.prefix)) rpc.handler(req, res);
      else handler(req, res);
    };
    // One server either way: the same routes, proxy and upgrades behind TLS or not. ALPN
    // prefers HTTP/1.1: browsers and curl offer both and stay on it as before, gRPC clients
    // offer h2 only and get it.
    const server = tls
      ? https.createServer(
          { ...tls, ALPNProtocols: rpc ? ["http/1.1", "h2"] : ["http/1.1"] },
          listener,
        )
      : http.createServer(listener);
    server.on("upgrade", (req, socket, head) => {
      const route = proxy?.route(req);
      if (route && proxy) proxy.ws(req, socket, head, route);
      else apiUpgrades.emit("upgrade", req, socket, head);
    });
    // Process output, file transfers and terminals stream for as long as they last.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 72_000;
    if (rpc) onBoth(acceptBothHttpVersions({ h1: server, h2: createRpcHttp2Server(rpc) }));
    return server;
  };
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const apiUpgrades = new EventEmitter();
  let both: BothHttpVersions | undefined;
  const app = Fastify({
    serverFactory: serverWithProxy(options.proxy, apiUpgrades, options.rpc, options.tls, (b) => {
      both = b;
    }),
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    // Ids of our own; a client-chosen request id would let callers forge log correlation.
    requestIdHeader: false,
    return503OnClosing: true,
  })
    .setValidatorCompiler(cachedValidatorCompiler)
    .setSerializerCompiler(cachedSerializerCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  // JSON as Fastify parses it (prototype-poisoning checks included), except that an empty body
  // counts as no body: clients send Content-Type: application/json on bodiless requests.
  const defaultJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    try {
      checkJsonCharset(request.headers["content-type"]);
    } catch (error) {
      return done(error as Error, undefined);
    }
    if (body === "") return done(null, undefined);
    return defaultJson(request, body as string, done);
  });

  app.decorateRequest("principal", null);
  app.addHook("preValidation", async (request) => {
    if (request.body === undefined && request.routeOptions.config?.optionalBody) request.body = {};
  });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler(notFoundHandler);

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Wrenn API",
        version: options.version,
        description: API_DESCRIPTION,
      },
      components: {
        securitySchemes: {
          apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
          metricsToken: { type: "http", scheme: "bearer", description: "WRENN_METRICS_TOKEN" },
        },
      },
    },
    transformObject: (documentObject) =>
      finishDocument((documentObject as { openapiObject: Record<string, unknown> }).openapiObject),
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    // Swagger UI applies an inline style of its own; without this Chromium logs a CSP error on
    // every load. Styles only: scripts stay limited to this server's own files.
    transformStaticCSP: (header) =>
      header.replace(/style-src ([^;]*)/, (all, sources: string) =>
        sources.includes("'unsafe-inline'") ? all : `style-src ${sources} 'unsafe-inline'`,
      ),
    theme: { title: "Wrenn API docs" },
  });

  await app.register(websocket, {
    options: {
      server: apiUpgrades as unknown as http.Server,
      maxPayload: IO_LIMITS.wsMessageBytes,
    },
  });
  // Before the server's close(), which waits for every connection: HTTP/2 sessions (gRPC
  // clients keep theirs open) and connections yet to send a byte are unknown to it.
  app.addHook("preClose", async () => both?.close());
  if (options.proxy) {
    const proxy = options.proxy;
    app.addHook("preClose", async () => proxy.close());
  }

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await registerMetrics(app, options);

  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness and database reachability",
        tags: ["service"],
        response: { 200: Health },
      },
    },
    async () => ({ status: "ok" as const, version: options.version }),
  );

  await app.register(
    async (v1) => {
      v1.addHook("onRequest", authenticate(options.keys));
      // A sandbox's name works wherever its id does: resolved here, once, for every /v1 route
      // with an :id, before the route (and the service) sees it.
      v1.addHook("preHandler", async (request) => {
        const params = request.params as { id?: unknown } | undefined;
        if (
          typeof params?.id === "string" &&
          request.routeOptions.url?.includes("/sandboxes/:id")
        ) {
          params.id = await options.sandboxes.resolveId(principalOf(request), params.id);
        }
      });
      await v1.register(sandboxRoutes, options);
      await v1.register(adminRoutes, options);
      await v1.register(hostAdminRoutes, options);
      await v1.register(eventRoutes, options);
      await v1.register(execRoutes, options);
      await v1.register(terminalRoutes, options);
      await v1.register(fileRoutes, options);
      await v1.register(fileJsonRoutes, options);
      await v1.register(templateRoutes, options);
      await v1.register(workspaceRoutes, options);
      await v1.register(workspaceSshRoute, options);
      await v1.register(sshKeyRoutes, options);
      await v1.register(snapshotRoutes, options);
      await v1.register(secretRoutes, options);
    },
    { prefix: "/v1" },
  );
  // Host agents authenticate with their own tokens, not API keys.
  await app.register(hostAgentRoutes, { ...options, prefix: "/v1" });
  await app.register(e2bTemplateUploadRoute, options);
  await app.register(async (e2b) => {
    e2b.addHook("onRequest", authenticate(options.keys));
    await e2b.register(e2bSandboxRoutes, options);
    await e2b.register(e2bLifecycleRoutes, options);
    await e2b.register(e2bSnapshotRoutes, options);
    await e2b.register(e2bTemplateRoutes, options);
    await e2b.register(e2bTemplateInfoRoutes, options);
    await e2b.register(e2bSecretRoutes, options);
    await e2b.register(e2bUnimplementedRoutes, options);
  });
  if (options.admin) {
    await app.register(adminUi, { ...options, ...options.admin, prefix: "/admin" });
  }

  return app;
}
