// Suspend, resume and destroy buttons of a workspace's row on the Workspaces page; they post to
// workspace-action-routes.ts, whose answer replaces the row.
import type { OwnedWorkspaceView } from "../../workspaces/workspace-service.js";
import { type Html, html } from "../html/html.js";
import { fragmentButton } from "./sandbox-actions.js";

export type WorkspaceAction = "suspend" | "resume" | "destroy";

/** What the row shows while the action runs (admin.js swaps the badge until the answer). */
const BUSY: Record<WorkspaceAction, string> = {
  suspend: "suspending",
  resume: "resuming",
  destroy: "stopping",
};

/** The row's element id: a workspace is named within its owner, so both are in it. */
export const workspaceRowId = (w: { ownerId: string; name: string }) => `ws-${w.ownerId}-${w.name}`;

function button(w: OwnedWorkspaceView, action: WorkspaceAction, label: string, confirm?: string) {
  return fragmentButton({
    url: `/admin/workspaces/${w.ownerId}/${encodeURIComponent(w.name)}/${action}`,
    vals: {},
    target: "closest tr",
    // Aborts the table's refresh in flight; the refresh waits while the action runs.
    sync: "closest section:replace",
    kind: action,
    busy: BUSY[action],
    busyFor: workspaceRowId(w),
    label,
    name: `${label} workspace ${w.name} of ${w.ownerId}`,
    confirm,
  });
}

export function workspaceActions(w: OwnedWorkspaceView): Html {
  const buttons: Html[] = [];
  if (w.state === "running") buttons.push(button(w, "suspend", "Suspend"));
  if (w.state === "suspended") buttons.push(button(w, "resume", "Resume"));
  buttons.push(
    button(
      w,
      "destroy",
      "Destroy",
      `Destroy workspace ${w.name}? Its disk, its processes and its WireGuard keys are gone for good.`,
    ),
  );
  return html`<div class="actions">${buttons}</div>`;
}
