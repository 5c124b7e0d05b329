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

/** A button that posts an action and swaps the fragment it sits in for the answer. */
export interface FragmentButton {
  url: string;
  vals: Record<string, string>;
  /** The element the answer replaces (an hx-target), and the request it aborts (an hx-sync). */
  target: string;
  sync: string;
  /** The class act-<kind> (destroy is drawn as dangerous). */
  kind: string;
  /** The state shown on the element with id busyFor while the action runs (admin.js). */
  busy: string;
  busyFor: string;
  label: string;
  name: string;
  confirm?: string;
}

export function fragmentButton(b: FragmentButton): Html {
  return html`<button type="button" class="act act-${b.kind}" hx-post="${b.url}" hx-vals="${jsonAttr(b.vals)}" hx-target="${b.target}" hx-swap="outerHTML" hx-sync="${b.sync}" hx-disabled-elt="this" data-busy="${b.busy}" data-busy-for="${b.busyFor}" aria-label="${b.name}"${b.confirm ? html` hx-confirm="${b.confirm}"` : ""}>${b.label}</button>`;
}

export function actionButton(
  id: string,
  action: SandboxAction,
  view: ActionView,
  o: { label: string; name?: string; confirm?: string },
): Html {
  // An action aborts a refresh in flight (and refreshes wait while an action runs), so a
  // stale refresh never overwrites what the action returns.
  return fragmentButton({
    url: `/admin/sandboxes/${encodeURIComponent(id)}/${action}`,
    vals: { view },
    target: view === "row" ? "closest tr" : "#summary",
    sync: view === "row" ? "closest tbody:replace" : "#summary:replace",
    kind: action,
    busy: BUSY[action],
    busyFor: containerId(id, view),
    label: o.label,
    name: o.name ?? `${o.label} ${id}`,
    confirm: o.confirm,
  });
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
