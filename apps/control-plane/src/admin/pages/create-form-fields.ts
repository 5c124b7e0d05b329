// What the New sandbox and New workspace forms share: the service's message shown beside the
// field it names (the forms check nothing themselves, so there is one set of rules and one set
// of messages), and the answer to a submit: a redirect once made, else the form again.
import type { FastifyReply, FastifyRequest } from "fastify";
import { ServiceError } from "../../service/errors.js";
import { Html, html } from "../html/html.js";
import { isHtmx } from "../session/same-origin.js";
import { sendHtml } from "./respond.js";

export interface FormError<F extends string> {
  field: F | null;
  message: string;
}

/** The field a service message is about: the one whose word it begins with. */
export function fieldOf<F extends string>(
  fields: readonly { name: F; says: string }[],
  message: string,
): F | null {
  return fields.find((f) => message.startsWith(f.says))?.name ?? null;
}

/** A number field's text as the service takes it: blank is "not given". */
export function number(value: string | undefined): number | undefined {
  const text = value?.trim();
  return text ? Number(text) : undefined;
}

/** The attributes and error text of each field, given what was entered and what went wrong. */
export function formFields<F extends string>(
  values: Partial<Record<F, string>>,
  error: FormError<F> | undefined,
) {
  const described = (name: F) =>
    error?.field === name
      ? html` aria-invalid="true" aria-describedby="create-error"`
      : html` aria-describedby="${name}-hint"`;
  const errorText = (name: F | null) =>
    error && error.field === name
      ? html`<span id="create-error" class="field-error" role="alert">${error.message}</span>`
      : "";
  const numberField = (name: F, label: string, fallback: number, hint: string) =>
    html`<label>${label}
      <input name="${name}" type="number" inputmode="numeric" class="mono" value="${values[name] ?? String(fallback)}"${described(name)}>
      <span id="${name}-hint" class="hint">${hint}</span>${errorText(name)}
    </label>`;
  return { described, errorText, numberField };
}

/**
 * Runs `make` (which returns the page to go to, or what to show in the form's place: a
 * workspace's one-time client config) and answers: a redirect or that panel, or, when the
 * service refused, the form with its message. To htmx a 200 with the form in its new state (a
 * 4xx would show in the browser's console as a failed load, and htmx would not swap it); a
 * plain form post gets a 422 and the whole page.
 */
export async function submitCreate(
  request: FastifyRequest,
  reply: FastifyReply,
  o: {
    make: () => Promise<string | Html>;
    form: (message: string) => Promise<Html>;
    page: (form: Html) => Html;
  },
) {
  let to: string | Html;
  try {
    to = await o.make();
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    const form = await o.form(error.message);
    if (isHtmx(request)) return sendHtml(reply, form);
    return sendHtml(reply, o.page(form), 422);
  }
  if (to instanceof Html) return sendHtml(reply, isHtmx(request) ? to : o.page(to));
  if (isHtmx(request)) return reply.header("hx-redirect", to).status(204).send();
  return reply.redirect(to, 303);
}
