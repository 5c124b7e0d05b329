// Every owner's built templates (owner-templates.ts: build logs, delete), then what the hosts
// hold: one list over one service call (HostService.templates), each with a link to the
// sandboxes made from it.
import type { FastifyPluginAsync } from "fastify";
import type { TemplateListing } from "../../service/host-service.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { bytes, timestamp } from "../html/units.js";
import { ownerTemplateRoutes, ownerTemplateTable } from "./owner-templates.js";
import { sendHtml } from "./respond.js";

function templateRow(t: TemplateListing): Html {
  const built = t.builtAt ? new Date(t.builtAt) : null;
  const sandboxes = `/admin/sandboxes?state=all&q=${encodeURIComponent(t.name)}`;
  return html`<tr>
  <td class="mono"><a href="${sandboxes}" aria-label="Sandboxes of template ${t.name}">${t.name}</a></td>
  <td class="mono" title="${t.version}">${t.version.slice(0, 12)}</td>
  <td class="mono num">${bytes(t.sizeBytes)}</td>
  <td class="mono nowrap">${built && !Number.isNaN(built.getTime()) ? html`<time datetime="${built.toISOString()}">${timestamp(built)}</time>` : html`<span class="dim">–</span>`}</td>
  <td class="mono dim">${t.envdVersion || "–"}</td>
  <td class="mono dim">${t.hostId}</td>
</tr>`;
}

export const templatesPage: FastifyPluginAsync<{ ctx: AdminContext }> = async (app, { ctx }) => {
  await app.register(ownerTemplateRoutes, { ctx });
  app.get("/templates", async (request, reply) => {
    const session = request.adminSession!;
    const [owned, templates] = await Promise.all([
      ownerTemplateTable(ctx, session.principal),
      ctx.deps.hosts.templates(session.principal),
    ]);
    const body = html`<div class="page-head">
  <h1>Templates</h1>
  <p class="dim">The templates owners built (their build logs; delete one), and what each host can start a sandbox from, as its agent reports it.</p>
</div>
${owned}
<section id="template-list" class="scroll-x" aria-label="Template list">
  <h2>On the hosts</h2>
  <table class="grid">
    <caption class="visually-hidden">Templates on the hosts</caption>
    <thead><tr>
      <th scope="col">Name</th><th scope="col">Version</th><th scope="col" class="num">Size</th><th scope="col">Built (UTC)</th><th scope="col">envd</th><th scope="col">Host</th>
    </tr></thead>
    <tbody>${templates.length > 0 ? templates.map(templateRow) : html`<tr><td colspan="6" class="empty">No host reports a template yet.</td></tr>`}</tbody>
  </table>
</section>`;
    return sendHtml(reply, page({ title: "Templates", section: "templates", session, body }));
  });
};
