// The dashboard: what runs, what it holds of each key's pools and each host's capacity, and
// what happened last; the whole overview refreshes itself.

import { LIMITS, LIVE_STATES } from "@wrenn/contract";
import type { FastifyPluginAsync } from "fastify";
import type { Principal } from "../../service/sandbox-types.js";
import type { HostRecord } from "../../store/host-store.js";
import type { AdminContext } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib, timestamp } from "../html/units.js";
import { auditHead, auditRow, meter } from "../html/widgets.js";
import { hostStatus } from "./hosts-page.js";
import { sendHtml } from "./respond.js";

const REFRESH = "every 3s";
const RECENT_EVENTS = 15;

function tile(label: string, value: number | string, accent = false): Html {
  return html`<div class="tile${accent ? " accent" : ""}"><div class="value">${value}</div><div class="label">${label}</div></div>`;
}

function hostCapacityTable(hosts: HostRecord[]): Html {
  const rows = hosts.map((h) => {
    const total = h.capacityTotal;
    const used = h.capacityUsed ?? { vcpus: 0, memoryMb: 0, diskMb: 0 };
    return html`<tr>
  <td class="mono">${h.id}</td>
  <td>${hostStatus(h)}</td>
  <td>${meter(`vCPUs used on ${h.id}`, used.vcpus, total?.vcpus ?? null, String)}</td>
  <td>${meter(`Memory used on ${h.id}`, used.memoryMb, total?.memoryMb ?? null, mib)}</td>
  <td>${meter(`Disk used on ${h.id}`, used.diskMb, total?.diskMb ?? null, mib)}</td>
</tr>`;
  });
  return html`<table class="grid">
  <caption class="visually-hidden">Host capacity</caption>
  <thead><tr><th scope="col">Host</th><th scope="col">Status</th><th scope="col">vCPU</th><th scope="col">Memory</th><th scope="col">Disk</th></tr></thead>
  <tbody>${rows.length > 0 ? rows : html`<tr><td colspan="5" class="empty">No hosts configured.</td></tr>`}</tbody>
</table>`;
}

async function overview(ctx: AdminContext, admin: Principal): Promise<Html> {
  const [live, usage, hosts, events] = await Promise.all([
    ctx.fleet.sandboxes(admin, { states: LIVE_STATES }, LIMITS.listLimit.max),
    ctx.fleet.usage(admin),
    ctx.deps.hosts.list(admin),
    ctx.deps.audit.list(admin, { limit: RECENT_EVENTS }),
  ]);
  const count = (states: readonly string[]) =>
    live.sandboxes.filter((s) => states.includes(s.state)).length;
  const more = live.truncated ? "+" : "";
  const running = count(["running"]);
  const paused = count(["paused", "hibernated"]);
  const busy = count(["pending", "starting", "pausing", "resuming", "stopping"]);
  const failing = count(["error", "missing"]);
  const online = hosts.filter((h) => h.status === "online").length;
  const usageRows = usage
    .sort((a, b) => b.usage.vcpus - a.usage.vcpus || a.key.name.localeCompare(b.key.name))
    .map(
      ({ key, usage: u }) => html`<tr>
  <td>${key.name} <span class="mono dim">${key.id}</span><br><span class="dim small">${key.role} · owner ${key.ownerName}</span></td>
  <td>${meter(`vCPU pool of ${key.name}`, u.vcpus, key.pools.vcpus, String)}</td>
  <td>${meter(`Memory pool of ${key.name}`, u.memoryMb, key.pools.memoryMb, mib)}</td>
  <td>${meter(`Storage pool of ${key.name}`, u.storageMb, key.pools.storageMb, mib)}</td>
</tr>`,
    );
  return html`<div id="overview" class="stack" hx-get="/admin/overview" hx-trigger="${REFRESH}" hx-swap="outerHTML" hx-sync="this:drop">
<div class="tiles" role="group" aria-label="Sandbox counts">
  ${tile("running", `${running}${more}`, true)}
  ${tile("paused", `${paused}${more}`)}
  ${tile("in transition", busy)}
  ${tile("error / missing", failing)}
  ${tile("hosts online", `${online} / ${hosts.length}`)}
</div>
<div class="grid-2">
  <section class="panel" aria-labelledby="capacity-title">
    <div class="section-head"><h2 id="capacity-title">Host capacity</h2><a href="/admin/hosts" class="small">Hosts →</a></div>
    ${hostCapacityTable(hosts)}
  </section>
  <section class="panel" aria-labelledby="pools-title">
    <div class="section-head"><h2 id="pools-title">Pool usage per key</h2><a href="/admin/api-keys" class="small">API keys →</a></div>
    <table class="grid">
      <caption class="visually-hidden">What each active key's sandboxes hold of its pools</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">vCPU</th><th scope="col">Memory</th><th scope="col">Storage</th></tr></thead>
      <tbody>${usageRows}</tbody>
    </table>
  </section>
</div>
<section class="panel" aria-labelledby="activity-title">
  <div class="section-head"><h2 id="activity-title">Recent activity</h2><span class="dim small mono">updated ${timestamp(new Date())} UTC</span></div>
  <table class="grid">
    <caption class="visually-hidden">The latest audit events</caption>
    ${auditHead(true)}
    <tbody>${events.length > 0 ? events.map((e) => auditRow(e, true)) : html`<tr><td colspan="7" class="empty">Nothing yet.</td></tr>`}</tbody>
  </table>
</section>
</div>`;
}

export const dashboardPage: FastifyPluginAsync<{ ctx: AdminContext }> = async (app, { ctx }) => {
  app.get("/", async (request, reply) => {
    const session = request.adminSession!;
    const body = html`<div class="page-head">
  <h1>Dashboard</h1>
  <p class="dim">Every owner, every host; refreshes every 3 seconds.</p>
</div>
${await overview(ctx, session.principal)}`;
    return sendHtml(reply, page({ title: "Dashboard", section: "dashboard", session, body }));
  });

  app.get("/overview", async (request, reply) =>
    sendHtml(reply, await overview(ctx, request.adminSession!.principal)),
  );
};
