// Create a sandbox from the admin UI, as the admin's own key, through the same service call as
// POST /v1/sandboxes: the service checks every field, and what it says is shown beside the
// field it names. The form does no validation of its own (novalidate) beyond reading
// key=value lines, so there is one set of rules and one set of messages.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { LIMITS } from "@wrenn/contract";
import { Type } from "typebox";
import { invalidRequest } from "../../service/errors.js";
import { SANDBOX_DEFAULTS } from "../../service/limits.js";
import type { CreateSandboxInput } from "../../service/sandbox-input.js";
import type { AdminContext, AdminSession } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { type FormError, fieldOf, formFields, number, submitCreate } from "./create-form-fields.js";
import { sendHtml } from "./respond.js";

const Field = (maxLength: number) => Type.Optional(Type.String({ maxLength }));
const CreateForm = Type.Object(
  {
    template: Field(LIMITS.templateLength),
    vcpus: Field(16),
    memoryMb: Field(16),
    diskMb: Field(16),
    timeoutSeconds: Field(16),
    metadata: Field(
      LIMITS.metadataEntries * (LIMITS.metadataKeyLength + LIMITS.metadataValueLength + 2),
    ),
    _csrf: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
type FormValues = Partial<Record<Exclude<keyof typeof CreateForm.properties, "_csrf">, string>>;
type FieldName = keyof FormValues;

/** The form's fields, and the word the service's messages begin with for each. */
const FIELDS: { name: FieldName; says: string }[] = [
  { name: "template", says: "template" },
  { name: "vcpus", says: "vcpus" },
  { name: "memoryMb", says: "memoryMb" },
  { name: "diskMb", says: "diskMb" },
  { name: "timeoutSeconds", says: "timeout" },
  { name: "metadata", says: "metadata" },
];

/** key=value, one a line; blank lines are skipped. */
export function parseMetadataLines(text: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const lines = (text ?? "").split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const at = line.indexOf("=");
    if (at <= 0) throw invalidRequest(`metadata line ${i + 1} is not key=value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

export function formInput(v: FormValues): CreateSandboxInput {
  return {
    template: v.template?.trim() || undefined,
    resources: { vcpus: number(v.vcpus), memoryMb: number(v.memoryMb), diskMb: number(v.diskMb) },
    timeoutSeconds: number(v.timeoutSeconds),
    metadata: parseMetadataLines(v.metadata),
  };
}

function createForm(templates: string[], v: FormValues, error?: FormError<FieldName>): Html {
  const { described, errorText, numberField } = formFields(v, error);
  return html`<form id="create-form" class="create-form panel" method="post" action="/admin/sandboxes" novalidate
  hx-post="/admin/sandboxes" hx-target="this" hx-swap="outerHTML" hx-disabled-elt="find button[type=submit]" aria-labelledby="create-title">
  <h2 id="create-title">New sandbox</h2>
  ${errorText(null)}
  <div class="create-fields">
    <label>Template
      <input name="template" list="template-choices" class="mono" spellcheck="false" value="${v.template ?? SANDBOX_DEFAULTS.template}"${described("template")}>
      <span id="template-hint" class="hint">${templates.length > 0 ? `on the hosts: ${templates.join(", ")}` : `a name like ${SANDBOX_DEFAULTS.template}`}</span>${errorText("template")}
    </label>
    <datalist id="template-choices">${templates.map((t) => html`<option value="${t}"></option>`)}</datalist>
    ${numberField("vcpus", "vCPUs", SANDBOX_DEFAULTS.vcpus, `${LIMITS.vcpus.min}–${LIMITS.vcpus.max}`)}
    ${numberField("memoryMb", "Memory (MiB)", SANDBOX_DEFAULTS.memoryMb, `${LIMITS.memoryMb.min}–${LIMITS.memoryMb.max}`)}
    ${numberField("diskMb", "Disk (MiB)", SANDBOX_DEFAULTS.diskMb, `${LIMITS.diskMb.min}–${LIMITS.diskMb.max}; the default boots from the warm pool`)}
    ${numberField("timeoutSeconds", "Timeout (s)", SANDBOX_DEFAULTS.timeoutSeconds, "destroyed this long after it starts")}
    <label class="wide">Metadata
      <textarea name="metadata" rows="3" class="mono" spellcheck="false" placeholder="team=infra&#10;purpose=demo"${described("metadata")}>${v.metadata ?? ""}</textarea>
      <span id="metadata-hint" class="hint">key=value, one a line</span>${errorText("metadata")}
    </label>
  </div>
  <div class="form-actions">
    <button type="submit" class="primary">Create sandbox</button>
    <span class="dim small busy-note">Creating: it returns once the sandbox runs, usually a few seconds.</span>
    <a href="/admin/sandboxes">Cancel</a>
  </div>
</form>`;
}

export async function templateNames(ctx: AdminContext, session: AdminSession): Promise<string[]> {
  const listed = await ctx.deps.hosts.templates(session.principal);
  return [...new Set(listed.map((t) => t.name))];
}

function formPage(session: AdminSession, form: Html): Html {
  return page({
    title: "New sandbox",
    section: "sandboxes",
    session,
    body: html`<div class="page-head">
  <h1><a href="/admin/sandboxes">Sandboxes</a> <span class="dim">/</span> new</h1>
  <p class="dim">Created with your admin key, like POST /v1/sandboxes.</p>
</div>
${form}`,
  });
}

export const sandboxCreateRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get("/sandboxes/new", async (request, reply) => {
    const session = request.adminSession!;
    const form = createForm(await templateNames(ctx, session), {});
    return sendHtml(reply, formPage(session, form));
  });

  app.post("/sandboxes", { schema: { body: CreateForm } }, async (request, reply) => {
    const session = request.adminSession!;
    const { _csrf, ...values } = request.body;
    return submitCreate(request, reply, {
      make: async () => {
        const sandbox = await ctx.deps.sandboxes.create(session.principal, formInput(values));
        return `/admin/sandboxes/${encodeURIComponent(sandbox.id)}`;
      },
      form: async (message) =>
        createForm(await templateNames(ctx, session), values, {
          field: fieldOf(FIELDS, message),
          message,
        }),
      page: (form) => formPage(session, form),
    });
  });
};
