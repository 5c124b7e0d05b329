// Every owner's built templates, from the control plane's own records (the template service
// /v1/templates uses, with the admin session's principal, which reaches every owner): a build's
// log and a delete. A delete is the service's, so a template in use is refused (409
// template_in_use, naming the sandboxes) and admin.js shows that message in the flash area.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { LIMITS } from "@wrenn/contract";
import { Type } from "typebox";
import type { Principal } from "../../service/sandbox-types.js";
import { sizeMbOf, type TemplateRecord } from "../../store/template-store.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib } from "../html/units.js";
import { stateBadge, when } from "../html/widgets.js";
import { sendHtml } from "./respond.js";

export const OWNER_TEMPLATE_COLUMN_COUNT = 7;

const TemplateParams = Type.Object({
  owner: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.String({ minLength: 1, maxLength: 256 }),
});
const DeleteBody = Type.Object(
  { _csrf: Type.Optional(Type.String({ maxLength: 128 })) },
  { additionalProperties: false },
);

const nameTag = (t: Pick<TemplateRecord, "name" | "tag">) => `${t.name}:${t.tag}`;
const templatePath = (t: Pick<TemplateRecord, "ownerId" | "name" | "tag">) =>
  `/admin/templates/${encodeURIComponent(t.ownerId)}/${encodeURIComponent(nameTag(t))}`;

export function ownerTemplateRow(
  t: TemplateRecord,
  ownerName: string | undefined,
  now = Date.now(),
): Html {
  const size = t.hostTemplate ? sizeMbOf(t.sizeBytes) : null;
  const path = templatePath(t);
  // A building template cannot be deleted (template_building); cancel it through /v1 first.
  const del =
    t.status === "building"
      ? ""
      : html`<button type="button" class="act act-destroy" hx-post="${path}/delete" hx-target="closest tr" hx-swap="outerHTML" hx-disabled-elt="this" aria-label="Delete template ${nameTag(t)} of ${t.ownerId}" hx-confirm="Delete template ${nameTag(t)} of ${ownerName ?? t.ownerId}? Its build is removed from its host.">Delete</button>`;
  return html`<tr data-template="${nameTag(t)}" data-owner="${t.ownerId}" data-status="${t.status}">
  <td data-label="Template"><span class="mono">${nameTag(t)}</span><br><span class="dim small mono">${t.fromImage}</span></td>
  <td data-label="Owner"><span>${ownerName ?? ""}</span> <span class="mono dim">${t.ownerId}</span></td>
  <td data-label="Status">${stateBadge(t.status)}${t.errorCode ? html`<br><span class="dim small mono">${t.errorCode}</span>` : ""}</td>
  <td data-label="Size" class="mono num">${size === null ? html`<span class="dim">–</span>` : mib(size)}</td>
  <td data-label="Built">${when(t.buildFinishedAt, now)}</td>
  <td data-label="Log"><a href="${path}/logs">Build log</a></td>
  <td data-label="Actions"><div class="actions">${del}</div></td>
</tr>`;
}

/** The section listing every owner's templates, for the templates page. */
export async function ownerTemplateTable(ctx: AdminContext, admin: Principal): Promise<Html> {
  const [templates, owners] = await Promise.all([
    ctx.deps.templates.listReached(admin),
    ctx.fleet.owners(admin),
  ]);
  const names = new Map(owners.map((o) => [o.id, o.name]));
  const now = Date.now();
  return html`<section id="owner-templates" class="scroll-x" aria-label="Built templates">
  <h2>Built templates</h2>
  <table class="grid">
    <caption class="visually-hidden">Every owner's templates</caption>
    <thead><tr>
      <th scope="col">Template</th><th scope="col">Owner</th><th scope="col">Status</th>
      <th scope="col" class="num">Size</th><th scope="col">Built</th><th scope="col">Log</th><th scope="col">Actions</th>
    </tr></thead>
    <tbody id="owner-template-rows">${templates.length > 0 ? templates.map((t) => ownerTemplateRow(t, names.get(t.ownerId), now)) : html`<tr><td colspan="${OWNER_TEMPLATE_COLUMN_COUNT}" class="empty">No owner has built a template yet. An owner builds one with <span class="mono">wrenn template build</span> or POST /v1/templates.</td></tr>`}</tbody>
  </table>
</section>`;
}

export const ownerTemplateRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get(
    "/templates/:owner/:name/logs",
    { schema: { params: TemplateParams } },
    async (request, reply) => {
      const session = request.adminSession!;
      const { owner, name } = request.params;
      const build = await ctx.deps.templates.build(
        session.principal,
        name,
        0,
        LIMITS.templateBuildLogLines,
        owner,
      );
      const t = build.template;
      // Log lines come from the owner's build steps: hostile text, escaped by html``.
      const lines = build.logs.map(
        (l) =>
          html`<tr class="log-${l.level}"><td class="mono nowrap dim">${l.timestamp}</td><td class="mono dim">${l.step}</td><td class="mono pre">${l.message}</td></tr>`,
      );
      const body = html`<div class="page-head">
  <h1>Build log of <span class="mono">${t.name}:${t.tag}</span></h1>
  <p class="dim">Owner <span class="mono">${owner}</span> · from <span class="mono">${t.fromImage}</span> · ${stateBadge(t.status)}${t.error ? html` · <span class="error-text mono">${t.error.code}: ${t.error.message}</span>` : ""}</p>
  <p><a href="/admin/templates">Back to the templates</a></p>
</div>
<section id="build-log" class="scroll-x" aria-label="Build log">
  <table class="grid">
    <caption class="visually-hidden">Log lines of the latest build</caption>
    <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Step</th><th scope="col">Message</th></tr></thead>
    <tbody>${lines.length > 0 ? lines : html`<tr><td colspan="3" class="empty">This build has logged nothing.</td></tr>`}</tbody>
  </table>
</section>`;
      return sendHtml(reply, page({ title: "Build log", section: "templates", session, body }));
    },
  );

  app.post(
    "/templates/:owner/:name/delete",
    { schema: { params: TemplateParams, body: DeleteBody } },
    async (request, reply) => {
      const { owner, name } = request.params;
      await ctx.deps.templates.delete(request.adminSession!.principal, name, owner);
      return sendHtml(
        reply,
        html`<tr data-status="deleted"><td colspan="${OWNER_TEMPLATE_COLUMN_COUNT}" class="dim mono">${name} of ${owner} deleted</td></tr>`,
      );
    },
  );
};
