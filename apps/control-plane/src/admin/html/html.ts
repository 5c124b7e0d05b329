// HTML by construction: every interpolation is escaped unless it is already Html. No library:
// the whole rule fits here, and a typed Html value cannot be confused with a string.

/** Markup that is safe to emit as it is: produced by `html` or explicitly by `trustedHtml`. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What may stand in an `html` template. `true` is left out on purpose: `${a && b}` renders b or nothing. */
export type Interpolation =
  | Html
  | string
  | number
  | false
  | null
  | undefined
  | readonly Interpolation[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: Interpolation): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false) return "";
  if (Array.isArray(value)) return value.map(render).join("");
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  return escapeHtml(value as string);
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return new Html(out);
}

/** For markup this program wrote itself (never for anything a request or the database holds). */
export function trustedHtml(markup: string): Html {
  return new Html(markup);
}

/** A JSON value for an attribute (hx-vals, hx-headers): the escaping keeps it inside the quotes. */
export function jsonAttr(value: unknown): string {
  return JSON.stringify(value);
}
