// One workspace's row on the Workspaces page: its settings, owner, WireGuard port, the sandbox
// that runs it, and its actions.
import type { OwnedWorkspaceView } from "../../workspaces/workspace-service.js";
import { type Html, html } from "../html/html.js";
import { mib } from "../html/units.js";
import { sandboxLink, stateBadge, when } from "../html/widgets.js";
import { workspaceActions, workspaceRowId } from "./workspace-actions.js";

export const WORKSPACE_COLUMN_COUNT = 10;

export function workspaceRow(
  w: OwnedWorkspaceView,
  ownerName: string | undefined,
  now = Date.now(),
): Html {
  return html`<tr id="${workspaceRowId(w)}" data-workspace="${w.name}" data-owner="${w.ownerId}" data-state="${w.state}">
  <td data-label="Workspace"><span class="mono">${w.name}</span><br><span class="dim small mono">${w.image}</span></td>
  <td data-label="Owner"><span>${ownerName ?? ""}</span> <span class="mono dim">${w.ownerId}</span></td>
  <td data-label="State">${stateBadge(w.state)}</td>
  <td data-label="vCPU" class="mono num">${w.vcpus}</td>
  <td data-label="Memory" class="mono num">${mib(w.memoryMb)}</td>
  <td data-label="Disk" class="mono num">${mib(w.diskGb * 1024)}</td>
  <td data-label="WireGuard port" class="mono num">${w.hostPort > 0 ? String(w.hostPort) : html`<span class="dim" title="no WireGuard endpoint open on its host now">–</span>`}</td>
  <td data-label="Sandbox">${sandboxLink(w.sandboxId)}</td>
  <td data-label="Created">${when(w.createdAt, now)}</td>
  <td class="row-actions">${workspaceActions(w)}</td>
</tr>`;
}
