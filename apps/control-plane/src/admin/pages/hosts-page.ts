// The hosts: health as the host monitor last saw it (each view asks every host first) and
// what their sandboxes hold of their capacity.
import type { FastifyPluginAsync } from "fastify";
import type { Principal } from "../../service/sandbox-types.js";
import type { HostRecord } from "../../store/host-store.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { bytes, mib } from "../html/units.js";
import { meter, when } from "../html/widgets.js";
import { sendHtml } from "./respond.js";

const REFRESH = "every 5s";

export function hostStatus(h: HostRecord): Html {
  return html`<span class="status status-${h.status}">${h.status}</span>`;
}

function byState(counts: Record<string, number>): Html {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  if (entries.length === 0) return html`<span class="dim">none</span>`;
  return html`${entries.map(([state, n], i) => html`${i > 0 ? " · " : ""}<span class="mono">${n}</span> <span class="dim">${state}</span>`)}`;
}

function hostRow(h: HostRecord, now: number): Html {
  const total = h.capacityTotal;
  const used = h.capacityUsed ?? { vcpus: 0, memoryMb: 0, diskMb: 0 };
  return html`<tr>
  <td><span class="mono">${h.id}</span><br><span class="dim small mono">${h.hostname ?? "?"} · ${h.url}</span></td>
  <td>${hostStatus(h)}${h.drained ? html`<br><span class="dim small" title="takes no new sandboxes (wrenn hosts undrain)">drained</span>` : ""}${h.consecutiveFailures > 0 ? html`<br><span class="dim small">${h.consecutiveFailures} failed checks</span>` : ""}</td>
  <td class="mono">${h.version ?? "–"}<br><span class="dim">${h.runtimes.join(", ") || "–"}</span></td>
  <td>${meter(`vCPUs used on ${h.id}`, used.vcpus, total?.vcpus ?? null, String)}</td>
  <td>${meter(`Memory used on ${h.id}`, used.memoryMb, total?.memoryMb ?? null, mib)}</td>
  <td>${meter(`Disk used on ${h.id}`, used.diskMb, total?.diskMb ?? null, mib)}</td>
  <td>${byState(h.sandboxesByState)}</td>
  <td class="mono small">${h.templates.map((t, i) => html`${i > 0 ? html`<br>` : ""}${t.name}<span class="dim" title="${t.version}"> ${t.version.slice(0, 12)} · ${bytes(t.sizeBytes)}</span>`)}</td>
  <td>${when(h.lastSeenAt, now)}</td>
  <td class="mono small error-text">${h.lastError ?? ""}</td>
</tr>`;
}

async function hostTable(ctx: AdminContext, admin: Principal): Promise<Html> {
  const hosts = await ctx.deps.hosts.list(admin);
  const now = Date.now();
  return html`<section id="host-table" aria-label="Hosts" hx-get="/admin/hosts/table" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
  <table class="grid">
    <caption class="visually-hidden">Hosts, their health and capacity</caption>
    <thead><tr>
      <th scope="col">Host</th><th scope="col">Health</th><th scope="col">Agent</th>
      <th scope="col">vCPU</th><th scope="col">Memory</th><th scope="col">Disk</th><th scope="col">Sandboxes</th><th scope="col">Templates</th><th scope="col">Last seen</th><th scope="col">Last error</th>
    </tr></thead>
    <tbody>${hosts.length > 0 ? hosts.map((h) => hostRow(h, now)) : html`<tr><td colspan="10" class="empty">No hosts configured.</td></tr>`}</tbody>
  </table>
</section>`;
}

export const hostsPage: FastifyPluginAsync<{ ctx: AdminContext }> = async (app, { ctx }) => {
  app.get("/hosts", async (request, reply) => {
    const session = request.adminSession!;
    const body = html`<div class="page-head">
  <h1>Hosts</h1>
  <p class="dim">Capacity and health, checked on every refresh (every 5 seconds).</p>
</div>
${await hostTable(ctx, session.principal)}`;
    return sendHtml(reply, page({ title: "Hosts", section: "hosts", session, body }));
  });

  app.get("/hosts/table", async (request, reply) =>
    sendHtml(reply, await hostTable(ctx, request.adminSession!.principal)),
  );
};
