import type { Sandbox } from "../../service/sandbox-types.js";
import { type Html, html } from "../html/html.js";
import { mib } from "../html/units.js";
import { sandboxLink, stateBadge, when } from "../html/widgets.js";
import { rowId, sandboxActions } from "./sandbox-actions.js";

/** Metadata pairs a row shows before "+N more" (the cell's title has them all). */
const METADATA_SHOWN = 3;

export function metadataCell(metadata: Record<string, string>, shown = METADATA_SHOWN): Html {
  const pairs = Object.entries(metadata)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  if (pairs.length === 0) return html`<span class="dim">–</span>`;
  const more = pairs.length - shown;
  return html`<span class="tags" title="${pairs.join("\n")}">${pairs
    .slice(0, shown)
    .map(
      (p) => html`<span class="tag mono">${p}</span>`,
    )}${more > 0 ? html`<span class="dim small">+${more} more</span>` : ""}</span>`;
}

/** States in which the end time applies: only these are destroyed (or paused) when it comes. */
const TIMED_STATES = new Set(["pending", "starting", "running"]);

/** When a sandbox ends or ended, and nothing for states with no end time (paused, error...). */
export function endsCell(s: Sandbox, now = Date.now()): Html {
  if (s.state === "stopped") return when(s.stoppedAt, now);
  if (TIMED_STATES.has(s.state)) return when(s.endAt, now);
  return html`<span class="dim">none while ${s.state}</span>`;
}

export function sandboxRow(s: Sandbox, ownerName: string | undefined, now = Date.now()): Html {
  return html`<tr id="${rowId(s.id)}" data-state="${s.state}">
  <td data-label="Sandbox">${sandboxLink(s.id)}${s.name ? html` <span class="dim small sandbox-name">${s.name}</span>` : ""}</td>
  <td data-label="State">${stateBadge(s.state)}${s.state === "error" && s.errorReason ? html` <span class="dim small" title="${s.error ?? ""}">${s.errorReason}</span>` : ""}</td>
  <td data-label="Owner"><span>${ownerName ?? ""}</span> <span class="mono dim">${s.ownerId}</span></td>
  <td data-label="Template" class="mono">${s.template}</td>
  <td data-label="Metadata" class="metadata">${metadataCell(s.metadata)}</td>
  <td data-label="vCPU" class="mono num">${s.resources.vcpus}</td>
  <td data-label="Memory" class="mono num">${mib(s.resources.memoryMb)}</td>
  <td data-label="Disk" class="mono num">${mib(s.resources.diskMb)}</td>
  <td data-label="Host" class="mono dim">${s.hostId ?? "–"}</td>
  <td data-label="Started">${when(s.startedAt, now)}</td>
  <td data-label="${s.state === "stopped" ? "Ended" : "Ends"}">${endsCell(s, now)}</td>
  <td class="row-actions">${sandboxActions(s, "row")}</td>
</tr>`;
}

export const SANDBOX_COLUMN_COUNT = 12;

export const SANDBOX_COLUMNS = html`<thead><tr>
  <th scope="col">Sandbox</th><th scope="col">State</th><th scope="col">Owner</th><th scope="col">Template</th><th scope="col">Metadata</th>
  <th scope="col" class="num">vCPU</th><th scope="col" class="num">Memory</th><th scope="col" class="num">Disk</th>
  <th scope="col">Host</th><th scope="col">Started</th><th scope="col">Ends / ended</th><th scope="col"><span class="visually-hidden">Actions</span></th>
</tr></thead>`;
