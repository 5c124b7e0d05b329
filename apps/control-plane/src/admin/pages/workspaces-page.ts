// Every owner's workspaces: one read of the workspace service (listReached, which gives the
// admin session every owner's), each linked to the sandbox that runs it. No actions here:
// suspend and resume of the workspace service act within the caller's own owner, so an admin
// pauses or resumes another owner's workspace through its sandbox's page instead.
import type { FastifyPluginAsync } from "fastify";
import type { Principal } from "../../service/sandbox-types.js";
import type { OwnedWorkspaceView } from "../../workspaces/workspace-service.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib } from "../html/units.js";
import { sandboxLink, stateBadge, when } from "../html/widgets.js";
import { sendHtml } from "./respond.js";

const REFRESH = "every 5s";
export const WORKSPACE_COLUMN_COUNT = 9;

export function workspaceRow(
  w: OwnedWorkspaceView,
  ownerName: string | undefined,
  now = Date.now(),
): Html {
  return html`<tr data-workspace="${w.name}" data-owner="${w.ownerId}" data-state="${w.state}">
  <td data-label="Workspace"><span class="mono">${w.name}</span><br><span class="dim small mono">${w.image}</span></td>
  <td data-label="Owner"><span>${ownerName ?? ""}</span> <span class="mono dim">${w.ownerId}</span></td>
  <td data-label="State">${stateBadge(w.state)}</td>
  <td data-label="vCPU" class="mono num">${w.vcpus}</td>
  <td data-label="Memory" class="mono num">${mib(w.memoryMb)}</td>
  <td data-label="Disk" class="mono num">${mib(w.diskGb * 1024)}</td>
  <td data-label="WireGuard port" class="mono num">${w.hostPort > 0 ? String(w.hostPort) : html`<span class="dim" title="no WireGuard endpoint open on its host now">–</span>`}</td>
  <td data-label="Sandbox">${sandboxLink(w.sandboxId)}</td>
  <td data-label="Created">${when(w.createdAt, now)}</td>
</tr>`;
}

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
      <th scope="col" class="num">WireGuard port</th><th scope="col">Sandbox</th><th scope="col">Created</th>
    </tr></thead>
    <tbody id="workspace-rows">${workspaces.length > 0 ? workspaces.map((w) => workspaceRow(w, names.get(w.ownerId), now)) : html`<tr><td colspan="${WORKSPACE_COLUMN_COUNT}" class="empty">No workspaces yet. An owner makes one with <span class="mono">wrenn ws create NAME</span> or POST /v1/workspaces.</td></tr>`}</tbody>
  </table>
</section>`;
}

export const workspacesPage: FastifyPluginAsync<{ ctx: AdminContext }> = async (app, { ctx }) => {
  app.get("/workspaces", async (request, reply) => {
    const session = request.adminSession!;
    const body = html`<div class="page-head">
  <h1>Workspaces</h1>
  <p class="dim">Every owner's named, persistent sandboxes (refreshed every 5 seconds). Suspend or resume one from its sandbox's page.</p>
</div>
${await workspaceTable(ctx, session.principal)}`;
    return sendHtml(reply, page({ title: "Workspaces", section: "workspaces", session, body }));
  });

  app.get("/workspaces/table", async (request, reply) =>
    sendHtml(reply, await workspaceTable(ctx, request.adminSession!.principal)),
  );
};
