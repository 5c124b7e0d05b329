// One sandbox: its state and resources (refreshing), CPU and memory over time, its audit trail
// (infinite scroll) and a terminal into it.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import type { Principal, Sandbox } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import { allowStyleNonce } from "../content-policy.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib } from "../html/units.js";
import { auditHead, auditRow, stateBadge, when } from "../html/widgets.js";
import { metricsCharts } from "../metrics/metrics-chart.js";
import { sendHtml } from "./respond.js";
import { sandboxActions } from "./sandbox-actions.js";

const REFRESH = "every 3s";
const AUDIT_PAGE = 25;

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const AuditQuery = Type.Object(
  { before: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,18}$" })) },
  { additionalProperties: false },
);

const path = (id: string, tail = "") => `/admin/sandboxes/${encodeURIComponent(id)}${tail}`;

export function sandboxSummary(s: Sandbox, now = Date.now()): Html {
  const metadata = Object.entries(s.metadata);
  return html`<section id="summary" class="panel" aria-labelledby="summary-title" data-state="${s.state}"
  hx-get="${path(s.id, "/summary")}" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
  <div class="section-head">
    <h2 id="summary-title">State</h2>
    ${sandboxActions(s, "summary")}
  </div>
  <dl class="facts">
    <dt>State</dt><dd>${stateBadge(s.state)} <span class="dim">since</span> ${when(s.stateChangedAt, now)}</dd>
    ${s.error ? html`<dt>Error</dt><dd class="error-text">${s.error}</dd>` : ""}
    <dt>Owner</dt><dd>${s.ownerId} <span class="dim">key ${s.apiKeyId}</span></dd>
    <dt>Template</dt><dd>${s.template}${s.envdVersion ? html` <span class="dim">envd ${s.envdVersion}</span>` : ""}</dd>
    <dt>Resources</dt><dd>${s.resources.vcpus} vCPU · ${mib(s.resources.memoryMb)} memory · ${mib(s.resources.diskMb)} disk</dd>
    <dt>Host</dt><dd>${s.hostId ?? "–"}</dd>
    <dt>Started</dt><dd>${when(s.startedAt, now)}</dd>
    <dt>${s.state === "stopped" ? "Stopped" : "Ends"}</dt><dd>${s.state === "stopped" ? when(s.stoppedAt, now) : when(s.endAt, now)} <span class="dim">timeout ${s.timeoutSeconds}s${s.autoPause ? ", auto-pause" : ""}</span></dd>
    <dt>Network</dt><dd>${s.allowInternet ? "internet allowed" : "no internet"}${s.network.allowOut.length > 0 ? ` · allow ${s.network.allowOut.join(", ")}` : ""}${s.network.denyOut.length > 0 ? ` · deny ${s.network.denyOut.join(", ")}` : ""}</dd>
    <dt>Metadata</dt><dd>${metadata.length > 0 ? metadata.map(([k, v]) => `${k}=${v}`).join(" ") : html`<span class="dim">none</span>`}</dd>
    <dt>Env vars</dt><dd>${s.envVarNames.length > 0 ? s.envVarNames.join(" ") : html`<span class="dim">none</span>`}</dd>
  </dl>
</section>`;
}

/** Takes a sample when one is due and the sandbox runs; draws what is kept. */
async function metricsSection(ctx: AdminContext, actor: Principal, s: Sandbox): Promise<Html> {
  let note: Html | string = "";
  if (s.state === "running" && ctx.metrics.due(s.id)) {
    try {
      const stats = await ctx.deps.sandboxes.stats(actor, s.id);
      if (stats) ctx.metrics.add(s.id, stats);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      note = html`<p class="dim small">Last sample failed: ${error.message}</p>`;
    }
  } else if (s.state !== "running") {
    note = html`<p class="dim small">Sampled only while the sandbox runs (now ${s.state}).</p>`;
  }
  const samples = ctx.metrics.get(s.id);
  return html`<section id="metrics" class="panel" aria-labelledby="metrics-title"
  hx-get="${path(s.id, "/metrics")}" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
  <div class="section-head"><h2 id="metrics-title">Metrics</h2><span class="dim small">${samples.length} samples kept while this page is open</span></div>
  ${metricsCharts(samples)}
  ${note}
</section>`;
}

async function auditRows(ctx: AdminContext, admin: Principal, id: string, before?: string) {
  const events = await ctx.deps.audit.list(admin, {
    sandboxId: id,
    beforeId: before,
    limit: AUDIT_PAGE,
  });
  const rows = events.map((e) => auditRow(e, false));
  const last = events.at(-1);
  if (last && events.length === AUDIT_PAGE) {
    // Revealed, it fetches the next older page in its place.
    rows.push(
      html`<tr class="more" hx-get="${path(id, `/audit?before=${last.id}`)}" hx-trigger="revealed" hx-swap="outerHTML"><td colspan="6" class="dim">Loading older events…</td></tr>`,
    );
  }
  if (events.length === 0 && before === undefined) {
    rows.push(html`<tr><td colspan="6" class="empty">No events yet.</td></tr>`);
  }
  return rows;
}

export const sandboxDetailPage: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get("/sandboxes/:id", { schema: { params: IdParams } }, async (request, reply) => {
    const session = request.adminSession!;
    const { sandbox: s, actor } = await ctx.fleet.find(session.principal, request.params.id);
    const [metrics, audit] = await Promise.all([
      metricsSection(ctx, actor, s),
      auditRows(ctx, session.principal, s.id),
    ]);
    const styleNonce = allowStyleNonce(reply);
    const body = html`<div class="page-head">
  <h1><a href="/admin/sandboxes">Sandboxes</a> <span class="dim">/</span> <span class="mono">${s.id}</span></h1>
</div>
<div class="detail-grid">
  ${sandboxSummary(s)}
  ${metrics}
</div>
<section class="panel terminal-panel" aria-labelledby="terminal-title">
  <div class="terminal-bar">
    <h2 id="terminal-title">Terminal</h2>
    <span id="terminal-status" class="terminal-status" role="status" aria-live="polite">loading…</span>
    <button type="button" id="terminal-connect" hidden aria-label="Connect the terminal to ${s.id}">Connect</button>
  </div>
  <div id="terminal" class="terminal" role="region" aria-label="Terminal in ${s.id}" data-socket="${path(s.id, "/terminal")}" data-state="${s.state}"></div>
</section>
<section class="panel" aria-labelledby="audit-title">
  <h2 id="audit-title">Audit log</h2>
  <table class="grid">
    <caption class="visually-hidden">Audit events of ${s.id}, newest first</caption>
    ${auditHead(false)}
    <tbody id="audit-rows">${audit}</tbody>
  </table>
</section>`;
    return sendHtml(
      reply,
      page({
        title: s.id,
        section: "sandboxes",
        session,
        body,
        styles: ["/admin/assets/xterm.css"],
        modules: ["/admin/assets/terminal.js"],
        styleNonce,
      }),
    );
  });

  app.get("/sandboxes/:id/summary", { schema: { params: IdParams } }, async (request, reply) => {
    const { sandbox } = await ctx.fleet.find(request.adminSession!.principal, request.params.id);
    return sendHtml(reply, sandboxSummary(sandbox));
  });

  app.get("/sandboxes/:id/metrics", { schema: { params: IdParams } }, async (request, reply) => {
    const { sandbox, actor } = await ctx.fleet.find(
      request.adminSession!.principal,
      request.params.id,
    );
    return sendHtml(reply, await metricsSection(ctx, actor, sandbox));
  });

  app.get(
    "/sandboxes/:id/audit",
    { schema: { params: IdParams, querystring: AuditQuery } },
    async (request, reply) => {
      const admin = request.adminSession!.principal;
      const { sandbox } = await ctx.fleet.find(admin, request.params.id);
      return sendHtml(
        reply,
        html`${await auditRows(ctx, admin, sandbox.id, request.query.before)}`,
      );
    },
  );
};
