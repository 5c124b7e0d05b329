// Pause, resume and destroy buttons: the same on a list row and on the detail page, posting to
// the same routes; `view` says which fragment comes back to replace the one they sit in.
import type { Sandbox } from "../../service/sandbox-types.js";
import { type Html, html, jsonAttr } from "../html/html.js";

export type ActionView = "row" | "summary";

const PAUSABLE = new Set(["running"]);
const RESUMABLE = new Set(["paused", "hibernated"]);

export function sandboxActions(s: Sandbox, view: ActionView): Html {
  const target = view === "row" ? "closest tr" : "#summary";
  // An action aborts a refresh in flight (and refreshes wait while an action runs), so a
  // stale refresh never overwrites what the action returns.
  const sync = view === "row" ? "closest tbody:replace" : "#summary:replace";
  const base = (action: string) => `/admin/sandboxes/${encodeURIComponent(s.id)}/${action}`;
  const vals = jsonAttr({ view });
  const button = (action: string, label: string, extra: Html | string = "") =>
    html`<button type="button" class="act act-${action}" hx-post="${base(action)}" hx-vals="${vals}" hx-target="${target}" hx-swap="outerHTML" hx-sync="${sync}" hx-disabled-elt="this" aria-label="${label} ${s.id}"${extra}>${label}</button>`;
  const buttons: Html[] = [];
  if (PAUSABLE.has(s.state)) buttons.push(button("pause", "Pause"));
  if (RESUMABLE.has(s.state)) buttons.push(button("resume", "Resume"));
  if (s.state !== "stopped" && s.state !== "stopping") {
    buttons.push(
      button(
        "destroy",
        "Destroy",
        html` hx-confirm="${`Destroy ${s.id}? Its processes and files are gone for good.`}"`,
      ),
    );
  }
  return html`<div class="actions">${buttons}</div>`;
}
