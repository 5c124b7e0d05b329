// Create a workspace from the admin UI, for the admin's own owner (as the New sandbox form
// does), through the same service call as POST /v1/workspaces: checkWorkspaceCreate in
// @wrenn/contract checks every field, and its message is shown beside the field it names.
// Once created, its WireGuard client config (wg-quick's format) is shown in the form's place,
// once: Wrenn keeps only the client's public key. `wrenn workspace up NAME` makes new keys when
// the owner has none saved.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  LIMITS,
  WORKSPACE_DEFAULTS,
  WORKSPACE_DISK_GB,
  type WorkspaceClientConfig,
  wgQuickConfig,
  wgQuickFileName,
} from "@wrenn/contract";
import { Type } from "typebox";
import { SANDBOX_DEFAULTS } from "../../service/limits.js";
import type { AdminContext, AdminSession } from "../admin-context.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { type FormError, fieldOf, formFields, number, submitCreate } from "./create-form-fields.js";
import { sendHtml } from "./respond.js";
import { templateNames } from "./sandbox-create.js";

const Field = (maxLength: number) => Type.Optional(Type.String({ maxLength }));
const CreateForm = Type.Object(
  {
    name: Field(LIMITS.sandboxNameLength * 2),
    image: Field(LIMITS.templateLength),
    vcpus: Field(16),
    memoryMb: Field(16),
    diskGb: Field(16),
    _csrf: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
type FormValues = Partial<Record<Exclude<keyof typeof CreateForm.properties, "_csrf">, string>>;
type FieldName = keyof FormValues;

/** The form's fields, and the word checkWorkspaceCreate's messages begin with for each. */
const FIELDS: { name: FieldName; says: string }[] = [
  { name: "name", says: "name" },
  { name: "image", says: "template" },
  { name: "vcpus", says: "vcpus" },
  { name: "memoryMb", says: "memory_mb" },
  { name: "diskGb", says: "disk_gb" },
];

/** The form field a message of checkWorkspaceCreate is about. */
export const workspaceFieldOf = (message: string) => fieldOf(FIELDS, message);

/** What the service takes: the text as entered (blank is "not given", so the default). */
export function workspaceInput(v: FormValues) {
  return {
    name: v.name?.trim() ?? "",
    image: v.image?.trim() || undefined,
    vcpus: number(v.vcpus),
    memoryMb: number(v.memoryMb),
    diskGb: number(v.diskGb),
  };
}

function createForm(templates: string[], v: FormValues, error?: FormError<FieldName>): Html {
  const { described, errorText, numberField } = formFields(v, error);
  return html`<form id="create-form" class="create-form panel" method="post" action="/admin/workspaces" novalidate
  hx-post="/admin/workspaces" hx-target="this" hx-swap="outerHTML" hx-disabled-elt="find button[type=submit]" aria-labelledby="create-title">
  <h2 id="create-title">New workspace</h2>
  ${errorText(null)}
  <div class="create-fields">
    <label>Name
      <input name="name" class="mono" spellcheck="false" autocomplete="off" value="${v.name ?? ""}"${described("name")}>
      <span id="name-hint" class="hint">lowercase letters, digits and hyphens; unique among your workspaces</span>${errorText("name")}
    </label>
    <label>Image
      <input name="image" list="template-choices" class="mono" spellcheck="false" value="${v.image ?? SANDBOX_DEFAULTS.template}"${described("image")}>
      <span id="image-hint" class="hint">${templates.length > 0 ? `a template on the hosts: ${templates.join(", ")}` : `a template name like ${SANDBOX_DEFAULTS.template}`}</span>${errorText("image")}
    </label>
    <datalist id="template-choices">${templates.map((t) => html`<option value="${t}"></option>`)}</datalist>
    ${numberField("vcpus", "vCPUs", WORKSPACE_DEFAULTS.vcpus, `${LIMITS.vcpus.min}–${LIMITS.vcpus.max}`)}
    ${numberField("memoryMb", "Memory (MiB)", WORKSPACE_DEFAULTS.memoryMb, `${LIMITS.memoryMb.min}–${LIMITS.memoryMb.max}`)}
    ${numberField("diskGb", "Disk (GiB)", WORKSPACE_DEFAULTS.diskGb, `${WORKSPACE_DISK_GB.min}–${WORKSPACE_DISK_GB.max}`)}
  </div>
  <div class="form-actions">
    <button type="submit" class="primary">Create workspace</button>
    <span class="dim small busy-note">Creating: it returns once the workspace runs, usually a few seconds.</span>
    <a href="/admin/workspaces">Cancel</a>
  </div>
</form>`;
}

/** In the form's place after a create: the client config, shown this once. */
function createdPanel(config: WorkspaceClientConfig): Html {
  const file = wgQuickFileName(config.name);
  return html`<section id="created-config" class="panel" aria-labelledby="created-title">
  <h2 id="created-title">Workspace <span class="mono">${config.name}</span> created</h2>
  <p>Its WireGuard client config, shown this once: Wrenn keeps only its public key. Save it as
    <span class="mono">${file}</span> and run <span class="mono">wg-quick up ./${file}</span>, or import it in the
    WireGuard app; the workspace is then at <span class="mono">${config.agentIp}</span>.</p>
  <pre id="wg-config" class="mono">${wgQuickConfig(config)}</pre>
  <p class="dim small">Lost it? <span class="mono">wrenn workspace rotate ${config.name}</span> makes new keys (the old ones stop working).</p>
  <div class="form-actions"><a href="/admin/workspaces" class="primary">Go to workspaces</a></div>
</section>`;
}

function formPage(session: AdminSession, form: Html): Html {
  return page({
    title: "New workspace",
    section: "workspaces",
    session,
    body: html`<div class="page-head">
  <h1><a href="/admin/workspaces">Workspaces</a> <span class="dim">/</span> new</h1>
  <p class="dim">Created for your own owner with your admin key, like POST /v1/workspaces. Its WireGuard config is shown once it runs.</p>
</div>
${form}`,
  });
}

export const workspaceCreateRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get("/workspaces/new", async (request, reply) => {
    const session = request.adminSession!;
    const form = createForm(await templateNames(ctx, session), {});
    return sendHtml(reply, formPage(session, form));
  });

  app.post("/workspaces", { schema: { body: CreateForm } }, async (request, reply) => {
    const session = request.adminSession!;
    const { _csrf, ...values } = request.body;
    return submitCreate(request, reply, {
      make: async () => {
        const made = await ctx.deps.workspaces.create(session.principal, workspaceInput(values));
        return createdPanel(made.clientConfig);
      },
      form: async (message) =>
        createForm(await templateNames(ctx, session), values, {
          field: workspaceFieldOf(message),
          message,
        }),
      page: (form) => formPage(session, form),
    });
  });
};
