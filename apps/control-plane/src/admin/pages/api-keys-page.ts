// API keys: create one (its secret is shown once, in the response to the creation), list every
// key with what it may use, revoke. Revoking the key of this very session ends the session.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { LIMITS } from "@wrenn/contract";
import { Type } from "typebox";
import type { CreateKeyInput } from "../../service/api-key-service.js";
import { invalidRequest } from "../../service/errors.js";
import type { Principal } from "../../service/sandbox-types.js";
import type { ApiKeyRecord } from "../../store/api-key-store.js";
import type { AdminContext } from "../admin-context.js";
import type { Owner } from "../fleet/fleet.js";
import { type Html, html } from "../html/html.js";
import { page } from "../html/layout.js";
import { mib } from "../html/units.js";
import { when } from "../html/widgets.js";
import { loginUrl } from "../session/session-guard.js";
import { sendHtml } from "./respond.js";

const Count = Type.String({ maxLength: 12, pattern: "^[0-9]*$" });
const CreateKeyBody = Type.Object(
  {
    name: Type.String({ maxLength: LIMITS.keyNameLength }),
    role: Type.Union([Type.Literal("user"), Type.Literal("admin")]),
    ownerId: Type.String({ pattern: "^(own-[0-9a-f]{8})?$" }),
    vcpus: Type.Optional(Count),
    memoryMb: Type.Optional(Count),
    storageMb: Type.Optional(Count),
    _csrf: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
const KeyParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const RevokeBody = Type.Object(
  { _csrf: Type.Optional(Type.String({ maxLength: 128 })) },
  { additionalProperties: false },
);

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalidRequest(`${name} must be a whole number`);
  return n;
}

function keyRow(k: ApiKeyRecord, self: string, now: number): Html {
  const revoked = k.revokedAt !== null;
  return html`<tr id="key-${k.id}" class="${revoked ? "revoked" : ""}">
  <td>${k.name}${k.id === self ? html` <span class="dim small">(this session)</span>` : ""}</td>
  <td class="mono">${k.id}</td>
  <td class="mono">${k.role}</td>
  <td>${k.ownerName} <span class="mono dim">${k.ownerId}</span></td>
  <td class="mono num">${k.pools.vcpus}</td>
  <td class="mono num">${mib(k.pools.memoryMb)}</td>
  <td class="mono num">${mib(k.pools.storageMb)}</td>
  <td class="mono num">${k.createRatePerMinute}/min</td>
  <td>${when(k.createdAt, now)}</td>
  <td>${revoked ? html`<span class="state state-stopped">revoked</span> ${when(k.revokedAt, now)}` : html`<span class="state state-running">active</span>`}</td>
  <td><div class="actions">${
    revoked
      ? ""
      : html`<button type="button" class="act act-revoke" hx-post="/admin/api-keys/${k.id}/revoke" hx-target="closest tr" hx-swap="outerHTML" hx-disabled-elt="this" hx-confirm="${`Revoke ${k.name} (${k.id})? Clients using it stop working at once.`}" aria-label="Revoke ${k.name} ${k.id}">Revoke</button>`
  }</div></td>
</tr>`;
}

function keyList(keys: ApiKeyRecord[], self: string, oob = false): Html {
  const now = Date.now();
  return html`<section id="key-list" aria-label="API key list"${oob ? html` hx-swap-oob="true"` : ""}>
  <table class="grid">
    <caption class="visually-hidden">API keys</caption>
    <thead><tr>
      <th scope="col">Name</th><th scope="col">Key id</th><th scope="col">Role</th><th scope="col">Owner</th>
      <th scope="col" class="num">vCPU pool</th><th scope="col" class="num">Memory pool</th><th scope="col" class="num">Storage pool</th><th scope="col" class="num">Create rate</th>
      <th scope="col">Created</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th>
    </tr></thead>
    <tbody id="key-rows">${keys.map((k) => keyRow(k, self, now))}</tbody>
  </table>
</section>`;
}

function createSection(owners: Owner[], created?: { record: ApiKeyRecord; key: string }): Html {
  return html`<section id="key-create" aria-labelledby="create-title">
  ${
    created
      ? html`<div class="secret" role="status">
    <p><strong>Created ${created.record.name}</strong> <span class="mono dim">${created.record.id}</span>. Copy the key now: it is shown this once and never again.</p>
    <div class="secret-row">
      <input id="new-key" class="mono" readonly value="${created.key}" aria-label="The new API key">
      <button type="button" data-copy="new-key" aria-label="Copy the new API key">Copy</button>
    </div>
  </div>`
      : ""
  }
  <h2 id="create-title" class="visually-hidden">Create an API key</h2>
  <form class="inline-form" hx-post="/admin/api-keys" hx-target="#key-create" hx-swap="outerHTML" hx-disabled-elt="find button">
    <label>Name <input name="name" required maxlength="${LIMITS.keyNameLength}" placeholder="ci runner" spellcheck="false"></label>
    <label>Role <select name="role"><option value="user" selected>user</option><option value="admin">admin</option></select></label>
    <label>Owner <select name="ownerId"><option value="">a new owner</option>${owners.map((o) => html`<option value="${o.id}">${o.name} (${o.id})</option>`)}</select></label>
    <label>vCPU pool <input name="vcpus" type="number" min="0" step="1" placeholder="default" class="mono"></label>
    <label>Memory pool (MiB) <input name="memoryMb" type="number" min="0" step="1" placeholder="default" class="mono"></label>
    <label>Storage pool (MiB) <input name="storageMb" type="number" min="0" step="1" placeholder="default" class="mono"></label>
    <button type="submit" class="primary">Create key</button>
  </form>
</section>`;
}

async function keysAndOwners(ctx: AdminContext, admin: Principal) {
  const [keys, owners] = await Promise.all([ctx.deps.keys.list(admin), ctx.fleet.owners(admin)]);
  return { keys, owners };
}

export const apiKeysPage: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get("/api-keys", async (request, reply) => {
    const session = request.adminSession!;
    const { keys, owners } = await keysAndOwners(ctx, session.principal);
    const body = html`<div class="page-head">
  <h1>API keys</h1>
  <p class="dim">Keys are stored as hashes: a new key is shown once, when it is created.</p>
</div>
${createSection(owners)}
${keyList(keys, session.principal.keyId)}`;
    return sendHtml(reply, page({ title: "API keys", section: "keys", session, body }));
  });

  app.post("/api-keys", { schema: { body: CreateKeyBody } }, async (request, reply) => {
    const admin = request.adminSession!.principal;
    const b = request.body;
    const pools: CreateKeyInput["pools"] = {};
    const vcpus = count("vCPU pool", b.vcpus);
    const memoryMb = count("memory pool", b.memoryMb);
    const storageMb = count("storage pool", b.storageMb);
    if (vcpus !== undefined) pools.vcpus = vcpus;
    if (memoryMb !== undefined) pools.memoryMb = memoryMb;
    if (storageMb !== undefined) pools.storageMb = storageMb;
    const created = await ctx.deps.keys.create(admin, {
      name: b.name,
      role: b.role,
      ownerId: b.ownerId || undefined,
      pools,
    });
    const { keys, owners } = await keysAndOwners(ctx, admin);
    return sendHtml(
      reply,
      html`${createSection(owners, created)}${keyList(keys, admin.keyId, true)}`,
    );
  });

  app.post(
    "/api-keys/:id/revoke",
    { schema: { params: KeyParams, body: Type.Optional(RevokeBody) } },
    async (request, reply) => {
      const admin = request.adminSession!.principal;
      await ctx.deps.keys.revoke(admin, request.params.id);
      if (request.params.id === admin.keyId) {
        // This session's own key: nothing more can be done with it.
        return reply.header("hx-redirect", loginUrl(request, "expired")).status(204).send();
      }
      const keys = await ctx.deps.keys.list(admin);
      const key = keys.find((k) => k.id === request.params.id);
      return sendHtml(reply, key ? keyRow(key, admin.keyId, Date.now()) : html``);
    },
  );
};
