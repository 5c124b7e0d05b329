// Suspend, resume and destroy a workspace from the Workspaces page: the same service calls as
// /v1/workspaces/NAME/suspend|resume and DELETE, made by the admin session on any owner's
// workspace (the sandbox service audits each under the admin's key); the row comes back in its
// new state, or as a line saying it is gone.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { errorMessage, WorkspaceName } from "@wrenn/contract";
import { Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import { ownerScope, type Principal } from "../../service/sandbox-types.js";
import type { WorkspaceView } from "../../workspaces/workspace-service.js";
import type { AdminContext } from "../admin-context.js";
import { html } from "../html/html.js";
import { sendHtml } from "./respond.js";
import { workspaceRowId } from "./workspace-actions.js";
import { WORKSPACE_COLUMN_COUNT, workspaceRow } from "./workspace-row.js";

const ActionParams = Type.Object({
  owner: Type.String({ pattern: "^own-[0-9a-f]{8}$" }),
  name: WorkspaceName,
  action: Type.Union([Type.Literal("suspend"), Type.Literal("resume"), Type.Literal("destroy")]),
});
const ActionBody = Type.Object(
  { _csrf: Type.Optional(Type.String({ maxLength: 128 })) },
  { additionalProperties: false },
);

/**
 * The admin session's key, within the workspace's owner: the workspace service finds a name
 * within its caller's owner, and the sandbox calls under it reach every owner's sandbox only
 * for a session that reaches every owner (ownerScope), so nobody else gets further than before.
 */
export function actingWithin(admin: Principal, ownerId: string, name: string): Principal {
  if (ownerScope(admin) !== undefined && ownerId !== admin.ownerId) {
    throw new ServiceError("workspace_not_found", errorMessage("workspace_not_found", { name }));
  }
  return { ...admin, ownerId };
}

export const workspaceActionRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.post(
    "/workspaces/:owner/:name/:action",
    { schema: { params: ActionParams, body: ActionBody } },
    async (request, reply) => {
      const admin = request.adminSession!.principal;
      const { owner, name, action } = request.params;
      const as = actingWithin(admin, owner, name);
      let view: WorkspaceView;
      if (action === "suspend") view = await ctx.deps.workspaces.suspend(as, name);
      else if (action === "resume") view = await ctx.deps.workspaces.resume(as, name);
      else {
        await ctx.deps.workspaces.destroy(as, name);
        return sendHtml(
          reply,
          html`<tr id="${workspaceRowId({ ownerId: owner, name })}" data-workspace="${name}" data-owner="${owner}" data-state="destroyed"><td colspan="${WORKSPACE_COLUMN_COUNT}" class="dim mono">${name} destroyed</td></tr>`,
        );
      }
      const owners = await ctx.fleet.owners(admin);
      const ownerName = owners.find((o) => o.id === owner)?.name;
      return sendHtml(reply, workspaceRow({ ...view, ownerId: owner }, ownerName));
    },
  );
};
