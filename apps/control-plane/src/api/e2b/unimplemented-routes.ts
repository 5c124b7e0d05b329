// E2B API paths this server does not implement. They answer 501 with E2B's error body naming
// the feature: a 404 would read as "sandbox not found" in E2B's SDK. A sandbox-scoped path
// still answers 404 first when the sandbox does not exist (or is not the caller's).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { notImplemented, visible } from "./sandbox-views.js";
import { e2bErrors } from "./schemas.js";

const config = { errorStyle: "e2b" as const };
const schema = { hide: true, response: e2bErrors };

/** Sandbox-scoped features by the path segment after the id. */
const SANDBOX_FEATURES: Record<string, string> = {
  logs: "Sandbox logs",
};

/** Top-level path families, by their first segment. */
const FAMILIES: Record<string, string> = {
  volumes: "Volumes",
  volumecontent: "Volumes",
  templates: "This template route",
};

export const e2bUnimplementedRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const sandboxScoped = async (
    request: FastifyRequest<{ Params: { sandboxID: string; "*": string } }>,
  ) => {
    const { sandboxID } = request.params;
    await visible(deps, principalOf(request), sandboxID);
    const rest = request.params["*"];
    const feature =
      SANDBOX_FEATURES[rest.split("/")[0] ?? ""] ??
      `${request.method} /sandboxes/{sandboxID}/${rest.slice(0, 80)}`;
    throw notImplemented(feature);
  };
  for (const prefix of ["/sandboxes", "/v2/sandboxes"]) {
    app.all(
      `${prefix}/:sandboxID/*`,
      // No params schema: typebox cannot describe the wildcard's "*" key.
      { config, schema },
      sandboxScoped,
    );
  }

  app.get("/sandboxes/metrics", { config, schema }, async () => {
    throw notImplemented("Metrics of many sandboxes at once (GET /sandboxes/metrics)");
  });

  const family = async (request: FastifyRequest) => {
    const path = request.url.split("?")[0] ?? "";
    const segments = path.split("/").filter(Boolean);
    // /v2/templates, /v3/templates: the family is the segment after the version.
    const name = /^v\d+$/.test(segments[0] ?? "") ? segments[1] : segments[0];
    throw notImplemented(FAMILIES[name ?? ""] ?? `${request.method} ${path.slice(0, 80)}`);
  };
  // GET /templates and GET /v2/templates are template-info-routes.ts's lists.
  const notGet = ["POST", "PUT", "PATCH", "DELETE"] as const;
  for (const name of Object.keys(FAMILIES)) {
    if (name === "templates") {
      for (const method of notGet)
        app.route({ method, url: "/templates", config, schema, handler: family });
    } else {
      app.all(`/${name}`, { config, schema }, family);
    }
    app.all(`/${name}/*`, { config, schema }, family);
  }
  // POST /v3/templates is template-routes.ts's; the rest of these paths are not implemented.
  for (const method of notGet) {
    app.route({ method, url: "/v2/templates", config, schema, handler: family });
  }
  app.all("/v2/templates/*", { config, schema }, family);
  for (const method of ["GET", "PUT", "PATCH", "DELETE"] as const) {
    app.route({ method, url: "/v3/templates", config, schema, handler: family });
  }
  app.all("/v3/templates/*", { config, schema }, family);
};
