// Who may reach the admin pages: a valid session cookie whose API key is still an active admin
// key (checked on every request, so revoking the key ends its sessions at once), and for every
// state-changing request the session's CSRF token besides SameSite=Strict.

import { httpStatusOf } from "@wrenn/contract";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ServiceError } from "../../service/errors.js";
import type { AdminContext, AdminSession } from "../admin-context.js";
import { readCookie } from "./cookies.js";
import { fetchSiteIsForeign, isHtmx, originIsSelf } from "./same-origin.js";

export const SESSION_COOKIE = "wrenn_admin_session";
export const CSRF_HEADER = "x-csrf-token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export async function loadSession(
  ctx: AdminContext,
  request: FastifyRequest,
): Promise<AdminSession | null> {
  const claims = ctx.signer.verify(readCookie(request.headers.cookie, SESSION_COOKIE));
  if (!claims || ctx.loggedOut.has(claims.sid)) return null;
  let record: Awaited<ReturnType<typeof ctx.deps.keys.byId>>;
  try {
    record = await ctx.deps.keys.byId(claims.keyId);
  } catch (error) {
    if (error instanceof ServiceError && httpStatusOf(error.code) === 401) return null;
    throw error;
  }
  if (record.revokedAt !== null || record.role !== "admin") return null;
  return {
    claims,
    // The admin UI works across owners; the sandbox service grants that to admins alone.
    principal: {
      keyId: record.id,
      ownerId: record.ownerId,
      role: "admin",
      name: record.name,
      reach: "all-owners",
    },
    csrfToken: ctx.signer.csrfToken(claims.sid),
  };
}

export const loginUrl = (request: FastifyRequest, reason: "expired" | "required") => {
  const next = request.method === "GET" && !isHtmx(request) ? request.url : "/admin";
  return `/admin/login?${new URLSearchParams({ reason, next })}`;
};

/** onRequest: pages redirect to the login page, fragments tell htmx to go there, sockets get 401. */
export function requireSession(ctx: AdminContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const session = await loadSession(ctx, request);
    if (session) {
      request.adminSession = session;
      return;
    }
    const hadCookie = readCookie(request.headers.cookie, SESSION_COOKIE) !== undefined;
    const target = loginUrl(request, hadCookie ? "expired" : "required");
    if (request.headers.upgrade?.toLowerCase() === "websocket") {
      throw new ServiceError("no_session", "log in to the admin UI first");
    }
    if (isHtmx(request)) {
      return reply
        .status(401)
        .header("hx-redirect", target)
        .type("text/plain")
        .send("log in again");
    }
    if (request.method === "GET") return reply.redirect(target, 303);
    throw new ServiceError("no_session", "log in to the admin UI first");
  };
}

/** preHandler: state-changing requests carry the session's CSRF token and come from this site. */
export function requireCsrf(ctx: AdminContext) {
  return async (request: FastifyRequest) => {
    if (SAFE_METHODS.has(request.method)) return;
    const session = request.adminSession;
    if (!session) throw new ServiceError("no_session", "log in to the admin UI first");
    if (fetchSiteIsForeign(request) || (request.headers.origin && !originIsSelf(request))) {
      throw new ServiceError("foreign_origin", "this request did not come from the admin UI");
    }
    const header = request.headers[CSRF_HEADER];
    const body = request.body as Record<string, unknown> | undefined;
    const presented =
      typeof header === "string"
        ? header
        : typeof body?._csrf === "string"
          ? body._csrf
          : undefined;
    if (!ctx.signer.checkCsrf(session.claims.sid, presented)) {
      throw new ServiceError("csrf_token_invalid", "missing or wrong CSRF token; reload the page");
    }
  };
}
