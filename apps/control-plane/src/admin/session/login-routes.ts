import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { ServiceError } from "../../service/errors.js";
import type { Principal } from "../../service/sandbox-types.js";
import type { AdminContext } from "../admin-context.js";
import { html } from "../html/html.js";
import { page } from "../html/layout.js";
import { readCookie, setCookie } from "./cookies.js";
import { fetchSiteIsForeign, overHttps } from "./same-origin.js";
import { loadSession, SESSION_COOKIE } from "./session-guard.js";

const LOGIN_COOKIE = "wrenn_admin_login";
const LOGIN_PATH = "/admin/login";
const LOGIN_NONCE_SECONDS = 3600;
/** Where a login may send the browser back to: a path of the admin UI, nothing else. */
const NEXT_PATTERN = "^/admin(?:[/?][A-Za-z0-9._~%/?=&+-]*)?$";
const nextPattern = new RegExp(NEXT_PATTERN);
const safeNext = (next: string | undefined) =>
  next !== undefined && nextPattern.test(next) && !next.startsWith("//") ? next : "/admin";

// A refused login redirects back to the form with one of these (post/redirect/get: the page
// the browser shows is a 200, and reloading it does not post the key again).
const REASONS = {
  expired: { text: "Your session has ended. Log in again.", error: true },
  required: { text: "Log in with an admin API key.", error: false },
  logged_out: { text: "Logged out.", error: false },
  invalid_key: { text: "That API key is not valid.", error: true },
  not_admin: { text: "That key is not an admin key: the admin UI needs one.", error: true },
  form_expired: { text: "The login form expired or came from elsewhere. Try again.", error: true },
} as const;
type Reason = keyof typeof REASONS;

const retry = (reason: Reason, next: string) =>
  `${LOGIN_PATH}?${new URLSearchParams({ reason, ...(next === "/admin" ? {} : { next }) })}`;

const LoginQuery = Type.Object(
  {
    reason: Type.Optional(Type.Union(Object.keys(REASONS).map((r) => Type.Literal(r)))),
    next: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

const LoginBody = Type.Object(
  {
    apiKey: Type.String({ maxLength: 512 }),
    _csrf: Type.String({ maxLength: 128 }),
    next: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export const loginRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  const showForm = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    message: { readonly text: string; readonly error: boolean } | null,
    next: string,
  ) => {
    const { nonce, token } = ctx.signer.loginNonce();
    reply.header(
      "set-cookie",
      setCookie(LOGIN_COOKIE, nonce, {
        path: LOGIN_PATH,
        maxAge: LOGIN_NONCE_SECONDS,
        secure: overHttps(request),
      }),
    );
    return reply
      .status(status)
      .type("text/html; charset=utf-8")
      .send(
        page({
          title: "Log in",
          section: "none",
          body: html`<section class="login panel" aria-labelledby="login-title">
  <h1 id="login-title">Log in</h1>
  ${
    message
      ? html`<p class="${message.error ? "error" : "note"}"${message.error ? html` role="alert"` : ""}>${message.text}</p>`
      : ""
  }
  <form method="post" action="${LOGIN_PATH}">
    <label for="api-key">Admin API key</label>
    <input id="api-key" name="apiKey" type="password" autocomplete="off" spellcheck="false" required autofocus placeholder="wrn_…" class="mono">
    <input type="hidden" name="_csrf" value="${token}">
    <input type="hidden" name="next" value="${next}">
    <button type="submit" class="primary">Log in</button>
  </form>
  <p class="dim small">The key is checked once; the browser keeps only a session cookie. <code>npm start</code> prints the admin key and keeps it in <code>.wrenn/admin-api-key</code>.</p>
</section>`,
        }).value,
      );
  };

  app.get("/login", { schema: { querystring: LoginQuery } }, async (request, reply) => {
    const next = safeNext(request.query.next);
    if (await loadSession(ctx, request)) return reply.redirect(next, 303);
    const reason = request.query.reason as Reason | undefined;
    return showForm(request, reply, 200, reason ? REASONS[reason] : null, next);
  });

  app.post("/login", { schema: { body: LoginBody } }, async (request, reply) => {
    const next = safeNext(request.body.next);
    if (
      fetchSiteIsForeign(request) ||
      !ctx.signer.checkLogin(readCookie(request.headers.cookie, LOGIN_COOKIE), request.body._csrf)
    ) {
      return reply.redirect(retry("form_expired", next), 303);
    }
    let principal: Principal;
    try {
      principal = await ctx.deps.keys.authenticate(request.body.apiKey.trim());
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      await ctx.deps.audit.record({
        actor: "api",
        action: "admin.login",
        outcome: "error",
        detail: { reason: error.code },
      });
      return reply.redirect(retry("invalid_key", next), 303);
    }
    if (principal.role !== "admin") {
      await ctx.deps.audit.record({
        actor: "api",
        ownerId: principal.ownerId,
        apiKeyId: principal.keyId,
        action: "admin.login",
        outcome: "error",
        detail: { reason: "not_admin" },
      });
      return reply.redirect(retry("not_admin", next), 303);
    }
    const { token } = ctx.signer.issue(principal.keyId, ctx.sessionTtlMs);
    await ctx.deps.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "admin.login",
      outcome: "ok",
    });
    const secure = overHttps(request);
    reply.header("set-cookie", [
      setCookie(SESSION_COOKIE, token, {
        path: "/admin",
        maxAge: ctx.sessionTtlMs / 1000,
        secure,
      }),
      setCookie(LOGIN_COOKIE, "", { path: LOGIN_PATH, maxAge: 0, secure }),
    ]);
    return reply.redirect(next, 303);
  });
};

/** POST /admin/logout, behind the session and CSRF checks. */
export const logoutRoute: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (
  app,
  { ctx },
) => {
  app.post("/logout", async (request, reply) => {
    const session = request.adminSession!;
    ctx.loggedOut.add(session.claims);
    await ctx.deps.audit.record({
      actor: "api",
      ownerId: session.principal.ownerId,
      apiKeyId: session.principal.keyId,
      action: "admin.logout",
      outcome: "ok",
    });
    reply.header(
      "set-cookie",
      setCookie(SESSION_COOKIE, "", { path: "/admin", maxAge: 0, secure: overHttps(request) }),
    );
    return reply.redirect("/admin/login?reason=logged_out", 303);
  });
};
