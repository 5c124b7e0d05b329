import type { Sandbox } from "../../service/sandbox-types.js";
import { type Html, html } from "../html/html.js";
import { mib } from "../html/units.js";
import { sandboxLink, stateBadge, when } from "../html/widgets.js";
import { sandboxActions } from "./sandbox-actions.js";

export function sandboxRow(s: Sandbox, ownerName: string | undefined, now = Date.now()): Html {
  return html`<tr id="row-${s.id}" data-state="${s.state}">
  <td>${sandboxLink(s.id)}</td>
  <td>${stateBadge(s.state)}</td>
  <td><span>${ownerName ?? ""}</span> <span class="mono dim">${s.ownerId}</span></td>
  <td class="mono">${s.template}</td>
  <td class="mono num">${s.resources.vcpus}</td>
  <td class="mono num">${mib(s.resources.memoryMb)}</td>
  <td class="mono num">${mib(s.resources.diskMb)}</td>
  <td class="mono dim">${s.hostId ?? "–"}</td>
  <td>${when(s.startedAt, now)}</td>
  <td>${s.state === "stopped" ? when(s.stoppedAt, now) : when(s.endAt, now)}</td>
  <td>${sandboxActions(s, "row")}</td>
</tr>`;
}

export const SANDBOX_COLUMNS = html`<thead><tr>
  <th scope="col">Sandbox</th><th scope="col">State</th><th scope="col">Owner</th><th scope="col">Template</th>
  <th scope="col" class="num">vCPU</th><th scope="col" class="num">Memory</th><th scope="col" class="num">Disk</th>
  <th scope="col">Host</th><th scope="col">Started</th><th scope="col">Ends / ended</th><th scope="col"><span class="visually-hidden">Actions</span></th>
</tr></thead>`;
