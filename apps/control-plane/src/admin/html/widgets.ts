// Small pieces the pages share: state badges, usage meters, times, audit rows.
import type { SandboxState } from "../../service/sandbox-types.js";
import type { AuditRecord } from "../../store/audit-store.js";
import { type Html, html } from "./html.js";
import { percent, span, timestamp } from "./units.js";

export function stateBadge(state: SandboxState | string): Html {
  return html`<span class="state state-${state}">${state}</span>`;
}

/** A usage bar with its figures; `label` names it for assistive technology. */
export function meter(
  label: string,
  used: number,
  total: number | null,
  show: (n: number) => string,
): Html {
  if (total === null)
    return html`<span class="mono">${show(used)}</span> <span class="dim">/ ?</span>`;
  const pct = percent(used, total);
  const level = pct >= 90 ? "hot" : pct >= 70 ? "warm" : "ok";
  // An SVG bar: its width is an attribute, which the Content-Security-Policy (no inline style)
  // allows where a style="width:…" would be refused.
  return html`<div class="meter-cell">
  <svg class="meter meter-${level}" viewBox="0 0 100 6" preserveAspectRatio="none" role="meter" aria-label="${label}" aria-valuemin="0" aria-valuemax="${total}" aria-valuenow="${Math.min(used, total)}" aria-valuetext="${show(used)} of ${show(total)}"><rect class="track" width="100" height="6"/><rect class="fill" width="${pct.toFixed(1)}" height="6"/></svg>
  <span class="mono">${show(used)}<span class="dim"> / ${show(total)}</span></span>
</div>`;
}

/** An absolute UTC time with "5m ago" / "in 5m" beside it. */
export function when(d: Date | null, now = Date.now()): Html {
  if (d === null) return html`<span class="dim">–</span>`;
  const delta = d.getTime() - now;
  const rel = delta >= 0 ? `in ${span(delta)}` : `${span(delta)} ago`;
  return html`<time datetime="${d.toISOString()}" title="${timestamp(d)} UTC">${rel}</time>`;
}

export function sandboxLink(id: string | null | undefined): Html {
  if (!id) return html`<span class="dim">–</span>`;
  return html`<a class="mono" href="/admin/sandboxes/${encodeURIComponent(id)}">${id}</a>`;
}

/** The detail column of an audit event, in one line. */
export function auditDetail(e: AuditRecord): string {
  const d = e.detail ?? {};
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined) continue;
    parts.push(`${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  const text = parts.join(" ");
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

export function auditRow(e: AuditRecord, withSandbox: boolean): Html {
  return html`<tr>
  <td class="mono nowrap"><time datetime="${e.at.toISOString()}">${timestamp(e.at)}</time></td>
  <td class="mono">${e.action}</td>
  ${withSandbox ? html`<td>${sandboxLink(e.sandboxId)}</td>` : ""}
  <td class="mono dim">${e.actor === "api" ? (e.apiKeyId ?? "–") : e.actor}</td>
  <td><span class="outcome outcome-${e.outcome}">${e.outcome}</span></td>
  <td class="mono num">${e.durationMs === null || e.durationMs === undefined ? "" : `${e.durationMs} ms`}</td>
  <td class="mono detail">${auditDetail(e)}</td>
</tr>`;
}

export function auditHead(withSandbox: boolean): Html {
  return html`<thead><tr>
  <th scope="col">Time (UTC)</th><th scope="col">Action</th>${withSandbox ? html`<th scope="col">Sandbox</th>` : ""}<th scope="col">By</th><th scope="col">Outcome</th><th scope="col" class="num">Took</th><th scope="col">Detail</th>
</tr></thead>`;
}
