import type { Principal } from "../../service/sandbox-types.js";
import { type Html, html, jsonAttr } from "./html.js";

export type Section =
  | "dashboard"
  | "sandboxes"
  | "workspaces"
  | "templates"
  | "hosts"
  | "keys"
  | "none";

export interface PageOptions {
  title: string;
  section: Section;
  body: Html;
  /** Absent on the login page. */
  session?: { principal: Principal; csrfToken: string };
  /** Extra module scripts (the terminal). */
  modules?: string[];
  /** Extra stylesheets (the terminal's). */
  styles?: string[];
  /** A nonce the page's own scripts put on the <style> elements they make (xterm.js). */
  styleNonce?: string;
}

const NAV: { section: Section; href: string; label: string }[] = [
  { section: "dashboard", href: "/admin", label: "Dashboard" },
  { section: "sandboxes", href: "/admin/sandboxes", label: "Sandboxes" },
  { section: "workspaces", href: "/admin/workspaces", label: "Workspaces" },
  { section: "templates", href: "/admin/templates", label: "Templates" },
  { section: "hosts", href: "/admin/hosts", label: "Hosts" },
  { section: "keys", href: "/admin/api-keys", label: "API keys" },
];

// Indicator styles off: htmx would inject a <style> element the CSP does not allow, and the
// stylesheet has its own. No eval, and requests only to this origin.
const HTMX_CONFIG = jsonAttr({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
  defaultSwapStyle: "outerHTML",
});

export function page(o: PageOptions): Html {
  const s = o.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${o.title} · Wrenn admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/assets/admin.css">
${(o.styles ?? []).map((href) => html`<link rel="stylesheet" href="${href}">`)}
${o.styleNonce ? html`<meta name="wrenn-style-nonce" content="${o.styleNonce}">` : ""}
<script src="/admin/assets/htmx.min.js" defer></script>
<script src="/admin/assets/admin.js" defer></script>
${(o.modules ?? []).map((m) => html`<script type="module" src="${m}"></script>`)}
</head>
<body${s ? html` hx-headers="${jsonAttr({ "X-CSRF-Token": s.csrfToken })}"` : ""}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/admin"><span class="mark" aria-hidden="true">▚</span> wrenn <span class="dim">admin</span></a>
  ${
    s
      ? html`<nav aria-label="Main">
    <ul>${NAV.map(
      (n) =>
        html`<li><a href="${n.href}"${n.section === o.section ? html` aria-current="page"` : ""}>${n.label}</a></li>`,
    )}</ul>
  </nav>
  <form class="who" method="post" action="/admin/logout">
    <span class="dim">key</span> <span class="mono" title="${s.principal.keyId}">${s.principal.name}</span>
    <input type="hidden" name="_csrf" value="${s.csrfToken}">
    <button type="submit" class="link">Log out</button>
  </form>`
      : ""
  }
</header>
<div id="flash" class="flash" role="alert" aria-live="assertive"></div>
<main id="main">
${o.body}
</main>
</body>
</html>
`;
}
