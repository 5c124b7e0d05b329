import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { LIMITS, LIVE_STATES } from "@wrenn/contract";
import { type Static, Type } from "typebox";
import { SANDBOX_STATES, type SandboxState } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import type { FleetFilter } from "../fleet/fleet.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { sendHtml } from "./respond.js";
import { SANDBOX_COLUMN_COUNT, SANDBOX_COLUMNS, sandboxRow } from "./sandbox-row.js";

/** Rows one list shows; more than this and the page says so. */
const LIST_LIMIT = 200;
const REFRESH = "every 3s";

const STATE_CHOICES = ["live", "all", ...SANDBOX_STATES] as const;

export const SandboxListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(STATE_CHOICES.map((s) => Type.Literal(s)))),
    owner: Type.Optional(Type.String({ pattern: "^(own-[0-9a-f]{8})?$" })),
    q: Type.Optional(Type.String({ maxLength: LIMITS.searchLength })),
  },
  { additionalProperties: false },
);
type ListQuery = Static<typeof SandboxListQuery>;

type StateChoice = (typeof STATE_CHOICES)[number];

function toFilter(q: ListQuery): FleetFilter {
  const state: StateChoice = (q.state as StateChoice | undefined) ?? "live";
  return {
    states: state === "all" ? undefined : state === "live" ? LIVE_STATES : [state as SandboxState],
    hideFailedCreates: state === "live",
    ownerId: q.owner || undefined,
    search: q.q?.trim() || undefined,
  };
}

function queryString(q: ListQuery): string {
  const params = new URLSearchParams();
  if (q.state) params.set("state", q.state);
  if (q.owner) params.set("owner", q.owner);
  if (q.q) params.set("q", q.q);
  const s = params.toString();
  return s ? `?${s}` : "";
}

async function rows(
  ctx: AdminContext,
  admin: Parameters<AdminContext["fleet"]["owners"]>[0],
  q: ListQuery,
) {
  const [owners, listing] = await Promise.all([
    ctx.fleet.owners(admin),
    ctx.fleet.sandboxes(admin, toFilter(q), LIST_LIMIT),
  ]);
  const names = new Map(owners.map((o) => [o.id, o.name]));
  return { owners, listing, names };
}

function tbody(q: ListQuery, body: Html[], truncated: boolean): Html {
  return html`<tbody id="sandbox-rows" hx-get="/admin/sandboxes/rows${queryString(q)}" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
${body.length > 0 ? body : html`<tr><td colspan="${SANDBOX_COLUMN_COUNT}" class="empty">No sandboxes match these filters.</td></tr>`}
${truncated ? html`<tr><td colspan="${SANDBOX_COLUMN_COUNT}" class="dim">Showing the newest ${LIST_LIMIT}; narrow the filters to see others.</td></tr>` : ""}
</tbody>`;
}

export const sandboxesPage: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get("/sandboxes", { schema: { querystring: SandboxListQuery } }, async (request, reply) => {
    const admin = request.adminSession!.principal;
    const q = request.query;
    const { owners, listing, names } = await rows(ctx, admin, q);
    const now = Date.now();
    const state = q.state ?? "live";
    const body = html`<div class="page-head">
  <h1>Sandboxes</h1>
  <p class="dim">Every owner's sandboxes, newest first; refreshes every 3 seconds.</p>
  <a class="button primary" href="/admin/sandboxes/new">New sandbox</a>
</div>
<form id="filters" class="filters" method="get" action="/admin/sandboxes" role="search" aria-label="Filter sandboxes"
  hx-get="/admin/sandboxes" hx-trigger="change, submit, input changed delay:400ms from:find input[name=q]" hx-target="#sandbox-table" hx-select="#sandbox-table" hx-swap="outerHTML" hx-push-url="true">
  <label class="search">Search
    <input name="q" type="search" value="${q.q ?? ""}" maxlength="${LIMITS.searchLength}" placeholder="id, template or key=value" class="mono search-input" spellcheck="false">
  </label>
  <label>State
    <select name="state">${STATE_CHOICES.map(
      (s) =>
        html`<option value="${s}"${s === state ? html` selected` : ""}>${s === "live" ? "live (not stopped)" : s}</option>`,
    )}</select>
  </label>
  <label>Owner
    <select name="owner"><option value="">any owner</option>${owners.map(
      (o) =>
        html`<option value="${o.id}"${o.id === q.owner ? html` selected` : ""}>${o.name} (${o.id})</option>`,
    )}</select>
  </label>
  <button type="submit">Apply filters</button>
</form>
<section id="sandbox-table" aria-label="Sandbox list">
  <table class="grid stacked">
    <caption class="visually-hidden">Sandboxes</caption>
    ${SANDBOX_COLUMNS}
    ${tbody(
      q,
      listing.sandboxes.map((s) => sandboxRow(s, names.get(s.ownerId), now)),
      listing.truncated,
    )}
  </table>
</section>`;
    return sendHtml(
      reply,
      page({ title: "Sandboxes", section: "sandboxes", session: request.adminSession!, body }),
    );
  });

  app.get(
    "/sandboxes/rows",
    { schema: { querystring: SandboxListQuery } },
    async (request, reply) => {
      const q = request.query;
      const { listing, names } = await rows(ctx, request.adminSession!.principal, q);
      const now = Date.now();
      return sendHtml(
        reply,
        tbody(
          q,
          listing.sandboxes.map((s) => sandboxRow(s, names.get(s.ownerId), now)),
          listing.truncated,
        ),
      );
    },
  );
};
