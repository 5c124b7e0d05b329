// One sandbox: its state and resources (refreshing), CPU and memory over the last hour (kept
// by the metrics sampler), its audit trail (infinite scroll) and, on request, a terminal.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { Principal, Sandbox } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import { allowStyleNonce } from "../content-policy.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib, span } from "../html/units.js";
import { auditHead, auditRow, stateBadge, when } from "../html/widgets.js";
import { metricsCharts } from "../metrics/metrics-chart.js";
import { terminalGate } from "../terminal/terminal-gate.js";
import { sendHtml } from "./respond.js";
import { sandboxActions } from "./sandbox-actions.js";
import { endsCell, metadataCell } from "./sandbox-row.js";

const REFRESH = "every 3s";
const AUDIT_PAGE = 25;

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const AuditQuery = Type.Object(
  { before: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,18}$" })) },
  { additionalProperties: false },
);

const path = (id: string, tail = "") => `/admin/sandboxes/${encodeURIComponent(id)}${tail}`;

export function sandboxSummary(s: Sandbox, now = Date.now()): Html {
  return html`<section id="summary" class="panel" aria-labelledby="summary-title" data-state="${s.state}"
  hx-get="${path(s.id, "/summary")}" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
  <div class="section-head">
    <h2 id="summary-title">State</h2>
    ${sandboxActions(s, "summary")}
  </div>
  <dl class="facts">
    <dt>State</dt><dd>${stateBadge(s.state)} <span class="dim">since</span> ${when(s.stateChangedAt, now)}</dd>
    ${s.error ? html`<dt>Error</dt><dd class="error-text">${s.errorReason && s.state === "error" ? html`<strong>${s.errorReason}</strong>: ` : ""}${s.error}</dd>` : ""}
    <dt>Owner</dt><dd>${s.ownerId} <span class="dim">key ${s.apiKeyId}</span></dd>
    <dt>Template</dt><dd>${s.template}${s.envdVersion ? html` <span class="dim">envd ${s.envdVersion}</span>` : ""}</dd>
    <dt>Resources</dt><dd>${s.resources.vcpus} vCPU · ${mib(s.resources.memoryMb)} memory · ${mib(s.resources.diskMb)} disk</dd>
    <dt>Host</dt><dd>${s.hostId ?? "–"}</dd>
    <dt>Started</dt><dd>${when(s.startedAt, now)}</dd>
    <dt>${s.state === "stopped" ? "Stopped" : "Ends"}</dt><dd>${endsCell(s, now)} <span class="dim">· timeout ${s.timeoutSeconds}s${s.autoPause ? ", auto-pause" : ""}</span></dd>
    <dt>Network</dt><dd>${s.allowInternet ? "internet allowed" : "no internet"}${s.network.allowOut.length > 0 ? ` · allow ${s.network.allowOut.join(", ")}` : ""}${s.network.denyOut.length > 0 ? ` · deny ${s.network.denyOut.join(", ")}` : ""}</dd>
    <dt>Metadata</dt><dd>${metadataCell(s.metadata, Number.POSITIVE_INFINITY)}</dd>
    <dt>Env vars</dt><dd>${s.envVarNames.length > 0 ? s.envVarNames.join(" ") : html`<span class="dim">none</span>`}</dd>
  </dl>
</section>`;
}

/** The summary as a refresh or an action returns it: with the terminal's gate out of band. */
export function summaryUpdate(s: Sandbox): Html {
  return html`${sandboxSummary(s)}${terminalGate(s, true)}`;
}

/** Draws what the sampler kept; sampling itself runs on its own timer. */
function metricsSection(ctx: AdminContext, s: Sandbox): Html {
  const samples = ctx.metrics.get(s.id);
  const { intervalMs, windowMs } = ctx.metrics.limits;
  const every = span(intervalMs);
  const emptyText =
    s.state === "running"
      ? `No samples yet: one is taken every ${every} while the sandbox runs.`
      : `No samples: they are taken every ${every}, only while the sandbox runs${s.state === "error" ? " (this one failed)" : ` (this one is ${s.state})`}.`;
  return html`<section id="metrics" class="panel" aria-labelledby="metrics-title"
  hx-get="${path(s.id, "/metrics")}" hx-trigger="every ${Math.max(3, Math.round(intervalMs / 1000))}s" hx-swap="outerHTML" hx-sync="this:drop">
  <div class="section-head"><h2 id="metrics-title">Metrics</h2><span class="dim small">every ${every} while running · last ${span(windowMs)} kept</span></div>
  ${metricsCharts(samples, { gapMs: intervalMs * 2.5, emptyText })}
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
    const s = await ctx.fleet.find(session.principal, request.params.id);
    const audit = await auditRows(ctx, session.principal, s.id);
    const styleNonce = allowStyleNonce(reply);
    const body = html`<div class="page-head">
  <h1><a href="/admin/sandboxes">Sandboxes</a> <span class="dim">/</span> <span class="mono">${s.id}</span></h1>
</div>
<div class="detail-grid">
  ${sandboxSummary(s)}
  ${metricsSection(ctx, s)}
</div>
<section class="panel terminal-panel" aria-labelledby="terminal-title">
  <div class="terminal-bar">
    <h2 id="terminal-title">Terminal</h2>
    <span id="terminal-status" class="terminal-status" role="status" aria-live="polite"></span>
    <button type="button" id="terminal-open" hidden aria-label="Open a terminal in ${s.id}">Open terminal</button>
  </div>
  ${terminalGate(s)}
  <div id="terminal" class="terminal" hidden role="region" aria-label="Terminal in ${s.id}" data-socket="${path(s.id, "/terminal")}"></div>
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
    const sandbox = await ctx.fleet.find(request.adminSession!.principal, request.params.id);
    return sendHtml(reply, summaryUpdate(sandbox));
  });

  app.get("/sandboxes/:id/metrics", { schema: { params: IdParams } }, async (request, reply) => {
    const sandbox = await ctx.fleet.find(request.adminSession!.principal, request.params.id);
    return sendHtml(reply, metricsSection(ctx, sandbox));
  });

  app.get(
    "/sandboxes/:id/audit",
    { schema: { params: IdParams, querystring: AuditQuery } },
    async (request, reply) => {
      const admin = request.adminSession!.principal;
      const sandbox = await ctx.fleet.find(admin, request.params.id);
      return sendHtml(
        reply,
        html`${await auditRows(ctx, admin, sandbox.id, request.query.before)}`,
      );
    },
  );
};
