import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { ApiKeyService } from "../service/api-key-service.js";
import type { SandboxService } from "../service/sandbox-service.js";

// Prometheus metrics of the control plane at GET /metrics. A scraper sends the scrape token
// (WRENN_METRICS_TOKEN, printed in `npm start`'s banner) as `Authorization: Bearer`, or an
// admin API key as X-API-Key: the figures cover every owner, so user keys are refused.

export interface MetricsOptions {
  sandboxes: SandboxService;
  keys: ApiKeyService;
  /** The scrape token; unset, only admin keys may read the metrics. */
  metricsToken?: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function registerMetrics(app: FastifyInstance, o: MetricsOptions): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "wrenn_cp_" });
  const requests = new Counter({
    name: "wrenn_cp_http_requests_total",
    help: "API requests answered, by method, route pattern and status (sandbox traffic through the proxy is not counted here).",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  new Gauge({
    name: "wrenn_cp_sandboxes",
    help: "Sandboxes in the database by state, every owner and host (stopped ones included).",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await o.sandboxes.countsByState()))
        this.set({ state }, n);
    },
  });

  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    // The route pattern, never the URL: ids and names would make a series per sandbox.
    const route = request.routeOptions.url ?? "unmatched";
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
  });

  app.get(
    "/metrics",
    {
      schema: {
        tags: ["service"],
        summary: "Prometheus metrics of the control plane (scrape token or an admin key)",
        description:
          "Send `Authorization: Bearer <WRENN_METRICS_TOKEN>` (the scrape token `npm start` prints) or an admin key as X-API-Key. Text exposition format.",
        security: [{ apiKey: [] }, { metricsToken: [] }],
      },
    },
    async (request, reply) => {
      const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ""))?.[1];
      if (!(o.metricsToken && bearer !== undefined && sameSecret(bearer, o.metricsToken))) {
        const header = request.headers["x-api-key"];
        const principal = await o.keys.authenticate(Array.isArray(header) ? undefined : header);
        o.keys.requireAdmin(principal);
      }
      reply.header("content-type", registry.contentType);
      return registry.metrics();
    },
  );
}
