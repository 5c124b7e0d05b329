// Pause, resume and destroy buttons: the same on a list row and on the detail page, posting to
// the same routes; `view` says which fragment comes back to replace the one they sit in.
import type { Sandbox } from "../../service/sandbox-types.js";
import { type Html, html, jsonAttr } from "../html/html.js";

export type ActionView = "row" | "summary";
export type SandboxAction = "pause" | "resume" | "destroy";

const PAUSABLE = new Set(["running"]);
const RESUMABLE = new Set(["paused", "hibernated"]);

/** The state the service puts the sandbox in while the action runs (admin.js shows it). */
const BUSY: Record<SandboxAction, string> = {
  pause: "pausing",
  resume: "resuming",
  destroy: "stopping",
};

/** The element an action's fragment replaces, by id (a list row or the detail summary). */
export const rowId = (id: string) => `row-${id}`;
const containerId = (id: string, view: ActionView) => (view === "row" ? rowId(id) : "summary");

export function actionButton(
  id: string,
  action: SandboxAction,
  view: ActionView,
  o: { label: string; name?: string; confirm?: string },
): Html {
  const target = view === "row" ? "closest tr" : "#summary";
  // An action aborts a refresh in flight (and refreshes wait while an action runs), so a
  // stale refresh never overwrites what the action returns.
  const sync = view === "row" ? "closest tbody:replace" : "#summary:replace";
  return html`<button type="button" class="act act-${action}" hx-post="/admin/sandboxes/${encodeURIComponent(id)}/${action}" hx-vals="${jsonAttr({ view })}" hx-target="${target}" hx-swap="outerHTML" hx-sync="${sync}" hx-disabled-elt="this" data-busy="${BUSY[action]}" data-busy-for="${containerId(id, view)}" aria-label="${o.name ?? `${o.label} ${id}`}"${o.confirm ? html` hx-confirm="${o.confirm}"` : ""}>${o.label}</button>`;
}

export function sandboxActions(s: Sandbox, view: ActionView): Html {
  const buttons: Html[] = [];
  if (PAUSABLE.has(s.state)) buttons.push(actionButton(s.id, "pause", view, { label: "Pause" }));
  if (RESUMABLE.has(s.state)) buttons.push(actionButton(s.id, "resume", view, { label: "Resume" }));
  if (s.state !== "stopped" && s.state !== "stopping") {
    buttons.push(
      actionButton(s.id, "destroy", view, {
        label: "Destroy",
        confirm: `Destroy ${s.id}? Its processes and files are gone for good.`,
      }),
    );
  }
  return html`<div class="actions">${buttons}</div>`;
}

export function canResume(state: string): boolean {
  return RESUMABLE.has(state);
}
