// The admin UI at /admin: server-rendered pages and htmx fragments over the same service layer
// the REST API uses. Login and the static files are open; everything else needs a session of
// an active admin API key, and every state-changing request its CSRF token.

import { httpStatusOf } from "@wrenn/contract";
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { ServiceError } from "../service/errors.js";
import type { AdminContext, AdminDeps } from "./admin-context.js";
import { assetRoutes } from "./assets/asset-routes.js";
import { securityHeaders } from "./content-policy.js";
import { Fleet } from "./fleet/fleet.js";
import { html } from "./html/html.js";
import { page } from "./html/layout.js";
import { MetricsHistory } from "./metrics/metrics-history.js";
import { MetricsSampler } from "./metrics/metrics-sampler.js";
import { apiKeysPage } from "./pages/api-keys-page.js";
import { dashboardPage } from "./pages/dashboard-page.js";
import { hostsPage } from "./pages/hosts-page.js";
import { sendHtml } from "./pages/respond.js";
import { sandboxActionRoutes } from "./pages/sandbox-action-routes.js";
import { sandboxCreateRoutes } from "./pages/sandbox-create.js";
import { sandboxDetailPage } from "./pages/sandbox-detail-page.js";
import { sandboxesPage } from "./pages/sandboxes-page.js";
import { templatesPage } from "./pages/templates-page.js";
import { workspaceActionRoutes } from "./pages/workspace-action-routes.js";
import { workspaceCreateRoutes } from "./pages/workspace-create.js";
import { workspacesPage } from "./pages/workspaces-page.js";
import { loginRoutes, logoutRoute } from "./session/login-routes.js";
import { isHtmx } from "./session/same-origin.js";
import { requireCsrf, requireSession } from "./session/session-guard.js";
import { LoggedOutSessions, SessionSigner } from "./session/session-token.js";
import { terminalRoute } from "./terminal/terminal-route.js";

export type { AdminOptions } from "./admin-context.js";

const DEFAULT_SESSION_TTL_MS = 8 * 3600 * 1000;
const FORM_BODY_LIMIT = 64 * 1024;

/** Status and message of a failure, in words for the page (never internals of a 5xx). */
function describe(error: unknown): { status: number; message: string } {
  if (error instanceof ServiceError)
    return { status: httpStatusOf(error.code), message: error.message };
  const e = error as Partial<FastifyError>;
  if (e.validation) return { status: 400, message: e.message ?? "invalid request" };
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, message: e.message ?? "invalid request" };
  }
  return { status: 500, message: "internal error; see the control plane's log" };
}

function adminError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, message } = describe(error);
  if (status >= 500) request.log.error({ err: error }, "admin request failed");
  // htmx shows the text in the page's flash area (admin.js); a page load gets a page.
  if (isHtmx(request) || request.method !== "GET") {
    return reply.status(status).type("text/plain; charset=utf-8").send(message);
  }
  const session = request.adminSession ?? undefined;
  return sendHtml(
    reply,
    page({
      title: `Error ${status}`,
      section: "none",
      session,
      body: html`<section class="panel" aria-labelledby="error-title">
  <h1 id="error-title">Error ${status}</h1>
  <p class="error-text mono">${message}</p>
  <p><a href="/admin">Back to the dashboard</a></p>
</section>`,
    }),
    status,
  );
}

export const adminUi: FastifyPluginAsync<AdminDeps> = async (app, deps) => {
  const ctx: AdminContext = {
    deps,
    fleet: new Fleet(deps),
    metrics: new MetricsHistory(),
    signer: new SessionSigner(deps.secretKey),
    loggedOut: new LoggedOutSessions(),
    sessionTtlMs: deps.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
  };
  const sampler = new MetricsSampler(deps.sandboxes, ctx.metrics, app.log);
  app.addHook("onReady", async () => sampler.start());
  app.addHook("onClose", () => sampler.stop());

  app.decorateRequest("adminSession", null);
  app.addHook("onSend", securityHeaders);
  app.setErrorHandler(adminError);
  // HTML forms and htmx post application/x-www-form-urlencoded; the schemas of the routes
  // say which fields they take.
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string", bodyLimit: FORM_BODY_LIMIT },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );

  await app.register(assetRoutes);
  await app.register(loginRoutes, { ctx });
  await app.register(async (guarded) => {
    guarded.addHook("onRequest", requireSession(ctx));
    guarded.addHook("preHandler", requireCsrf(ctx));
    await guarded.register(logoutRoute, { ctx });
    await guarded.register(dashboardPage, { ctx });
    await guarded.register(sandboxesPage, { ctx });
    await guarded.register(sandboxCreateRoutes, { ctx });
    await guarded.register(sandboxActionRoutes, { ctx });
    await guarded.register(sandboxDetailPage, { ctx });
    await guarded.register(workspacesPage, { ctx });
    await guarded.register(workspaceCreateRoutes, { ctx });
    await guarded.register(workspaceActionRoutes, { ctx });
    await guarded.register(terminalRoute, { ctx });
    await guarded.register(hostsPage, { ctx });
    await guarded.register(templatesPage, { ctx });
    await guarded.register(apiKeysPage, { ctx });
  });
};
