// Every owner's workspaces: one read of the workspace service (listReached, which gives the
// admin session every owner's), each linked to the sandbox that runs it, with its suspend,
// resume and destroy buttons (workspace-action-routes.ts); new ones come from
// workspace-create.ts.
import type { FastifyPluginAsync } from "fastify";
import type { Principal } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { sendHtml } from "./respond.js";
import { WORKSPACE_COLUMN_COUNT, workspaceRow } from "./workspace-row.js";

const REFRESH = "every 5s";

async function workspaceTable(ctx: AdminContext, admin: Principal): Promise<Html> {
  const [workspaces, owners] = await Promise.all([
    ctx.deps.workspaces.listReached(admin),
    ctx.fleet.owners(admin),
  ]);
  const names = new Map(owners.map((o) => [o.id, o.name]));
  const now = Date.now();
  return html`<section id="workspace-table" class="scroll-x" aria-label="Workspace list" hx-get="/admin/workspaces/table" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
  <table class="grid">
    <caption class="visually-hidden">Workspaces of every owner</caption>
    <thead><tr>
      <th scope="col">Workspace</th><th scope="col">Owner</th><th scope="col">State</th>
      <th scope="col" class="num">vCPU</th><th scope="col" class="num">Memory</th><th scope="col" class="num">Disk</th>
      <th scope="col" class="num">WireGuard port</th><th scope="col">Sandbox</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th>
    </tr></thead>
    <tbody id="workspace-rows">${workspaces.length > 0 ? workspaces.map((w) => workspaceRow(w, names.get(w.ownerId), now)) : html`<tr><td colspan="${WORKSPACE_COLUMN_COUNT}" class="empty">No workspaces yet. Make one with New workspace, or as an owner with <span class="mono">wrenn ws create NAME</span> or POST /v1/workspaces.</td></tr>`}</tbody>
  </table>
</section>`;
}

export const workspacesPage: FastifyPluginAsync<{ ctx: AdminContext }> = async (app, { ctx }) => {
  app.get("/workspaces", async (request, reply) => {
    const session = request.adminSession!;
    const body = html`<div class="page-head">
  <h1>Workspaces</h1>
  <p class="dim">Every owner's named, persistent sandboxes (refreshed every 5 seconds).</p>
  <a class="button primary" href="/admin/workspaces/new">New workspace</a>
</div>
${await workspaceTable(ctx, session.principal)}`;
    return sendHtml(reply, page({ title: "Workspaces", section: "workspaces", session, body }));
  });

  app.get("/workspaces/table", async (request, reply) =>
    sendHtml(reply, await workspaceTable(ctx, request.adminSession!.principal)),
  );
};
