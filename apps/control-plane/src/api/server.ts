import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Type } from "typebox";
import type { ApiDeps } from "./api-deps.js";
import { authenticate } from "./authentication.js";
import { e2bSandboxRoutes } from "./e2b/sandbox-routes.js";
import { notFoundHandler, sendProblem } from "./error-handler.js";
import "./request-context.js";
import { adminRoutes } from "./v1/admin-routes.js";
import { sandboxRoutes } from "./v1/sandbox-routes.js";

export interface ServerOptions extends ApiDeps {
  logger: Logger;
  version: string;
  /** Largest accepted request body; sandbox requests are small (env vars are the big part). */
  bodyLimit?: number;
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    // Ids of our own; a client-chosen request id would let callers forge log correlation.
    requestIdHeader: false,
    return503OnClosing: true,
  })
    .setValidatorCompiler(TypeBoxValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  // JSON as Fastify parses it (prototype-poisoning checks included), except that an empty body
  // counts as no body: clients send Content-Type: application/json on bodiless requests.
  const defaultJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
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
        title: "Wrenn control plane",
        version: options.version,
        description:
          "Wrenn's own API lives under /v1. The paths tagged e2b are the subset of E2B's REST API that its SDK uses, with E2B's shapes and error bodies.",
      },
      components: {
        securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true });

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness and database reachability",
        tags: ["service"],
        response: { 200: Type.Object({ status: Type.Literal("ok"), version: Type.String() }) },
      },
    },
    async () => ({ status: "ok" as const, version: options.version }),
  );

  await app.register(
    async (v1) => {
      v1.addHook("onRequest", authenticate(options.keys));
      await v1.register(sandboxRoutes, options);
      await v1.register(adminRoutes, options);
    },
    { prefix: "/v1" },
  );
  await app.register(async (e2b) => {
    e2b.addHook("onRequest", authenticate(options.keys));
    await e2b.register(e2bSandboxRoutes, options);
  });

  return app;
}
