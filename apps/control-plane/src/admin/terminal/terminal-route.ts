// The detail page's terminal: the API's terminal socket (same protocol, same service calls),
// authenticated by the admin session cookie instead of X-API-Key. Cookies ride along on
// cross-site WebSocket handshakes that SameSite does not stop everywhere, so the browser's
// Origin must be this site.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { TerminalQuery } from "@wrenn/contract";
import { Type } from "typebox";
import { terminalSocket } from "../../api/v1/terminal-routes.js";
import { ServiceError } from "../../service/errors.js";
import type { AdminContext } from "../admin-context.js";
import { originIsSelf } from "../session/same-origin.js";

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const terminalRoute: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.get(
    "/sandboxes/:id/terminal",
    {
      websocket: true,
      schema: { params: IdParams, querystring: TerminalQuery },
      preHandler: async (request) => {
        if (!originIsSelf(request)) {
          throw new ServiceError("foreign_origin", "this socket must come from the admin UI");
        }
        // The admin session's principal reaches every owner's sandbox (see fleet.ts).
        await ctx.deps.exec.checkAccess(request.adminSession!.principal, request.params.id);
      },
    },
    (socket, request) => {
      const q = request.query;
      terminalSocket(socket, ctx.deps, request.adminSession!.principal, request.params.id, {
        cols: q.cols ?? 80,
        rows: q.rows ?? 24,
        cwd: q.cwd,
        user: q.user,
      });
    },
  );
};
