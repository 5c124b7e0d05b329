// Pause, resume and destroy from a list row or the detail page: the service does the work with
// the admin session's principal, which reaches every owner's sandbox (see fleet.ts), and the
// fragment the button sits in comes back with the new state.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import type { Sandbox } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import { html } from "../html/html.js";
import { terminalGate } from "../terminal/terminal-gate.js";
import { sendHtml } from "./respond.js";
import { rowId } from "./sandbox-actions.js";
import { summaryUpdate } from "./sandbox-detail-page.js";
import { SANDBOX_COLUMN_COUNT, sandboxRow } from "./sandbox-row.js";

const ActionParams = Type.Object({
  id: Type.String({ maxLength: 64 }),
  action: Type.Union([Type.Literal("pause"), Type.Literal("resume"), Type.Literal("destroy")]),
});
const ActionBody = Type.Object(
  {
    view: Type.Union([Type.Literal("row"), Type.Literal("summary")]),
    _csrf: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);

export const sandboxActionRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.post(
    "/sandboxes/:id/:action",
    { schema: { params: ActionParams, body: ActionBody } },
    async (request, reply) => {
      const admin = request.adminSession!.principal;
      const { id, action } = request.params;
      if (action === "pause") await ctx.deps.sandboxes.pause(admin, id);
      else if (action === "resume") await ctx.deps.sandboxes.resume(admin, id);
      else {
        // The operator may end any sandbox, a workspace's too (its workspace then reads stopped).
        await ctx.deps.sandboxes.destroy(admin, id, { ofWorkspace: true });
        ctx.metrics.forget(id);
      }
      let sandbox: Sandbox | null = null;
      try {
        sandbox = await ctx.fleet.find(admin, id);
      } catch (error) {
        if (!(error instanceof ServiceError && error.code === "sandbox_not_found")) throw error;
      }
      if (request.body.view === "summary") {
        return sendHtml(reply, sandbox ? summaryUpdate(sandbox) : gone(id, "summary"));
      }
      if (!sandbox) return sendHtml(reply, gone(id, "row"));
      const owners = await ctx.fleet.owners(admin);
      const name = owners.find((o) => o.id === sandbox.ownerId)?.name;
      return sendHtml(reply, sandboxRow(sandbox, name));
    },
  );
};

function gone(id: string, view: "row" | "summary") {
  return view === "row"
    ? html`<tr id="${rowId(id)}" data-state="stopped"><td colspan="${SANDBOX_COLUMN_COUNT}" class="dim mono">${id} destroyed</td></tr>`
    : html`<section id="summary" class="panel" data-state="stopped"><p class="dim mono">${id} destroyed</p></section>${terminalGate({ id, state: "stopped", error: null }, true)}`;
}
