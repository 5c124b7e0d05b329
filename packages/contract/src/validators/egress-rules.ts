import { invalidInput } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";
import { placeholderNames, SECRET_PLACEHOLDER } from "../secrets.js";
import { egressDomain, egressDomainMatches, egressHostName } from "./egress.js";

/** One transform of a domain's rules: headers set (or replaced) on every request to it. */
export interface EgressHeaderTransform {
  transform: { headers: Record<string, string> };
}

/**
 * E2B's `network.rules`: per domain (a name or `*.` wildcard, as in allowOut), the transforms
 * applied to HTTP(S) requests sent there. Rules never allow a domain by themselves: allowOut
 * (or internet access) decides whether the request leaves at all. Header values may carry
 * `${e2b.secrets.NAME}` placeholders, filled in by the control plane before the rules reach the
 * agent, so the value never enters the sandbox.
 */
export type EgressHeaderRules = Record<string, EgressHeaderTransform[]>;

/** An HTTP token (RFC 9110 §5.6.2): what a header name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Printable ASCII and tab: no CR, LF or NUL that could end the header or the request early. */
const HEADER_VALUE = /^[\x20-\x7e\t]*$/;
/**
 * Headers a rule may not set: they frame the message or the connection (a rule setting them
 * could split one request into two on the server's side) or name the server the proxy already
 * chose by SNI/Host.
 */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkHeaderValue(where: string, value: unknown): string {
  if (typeof value !== "string") throw invalidInput(`${where} must be a string`);
  if (value.length > LIMITS.egressRuleHeaderValueLength) {
    throw invalidInput(
      `${where} is ${value.length} characters (at most ${LIMITS.egressRuleHeaderValueLength})`,
    );
  }
  if (!HEADER_VALUE.test(value)) {
    throw invalidInput(`${where} must be printable ASCII with no CR, LF or control characters`);
  }
  // A placeholder's NAME is a secret name (the secrets store's rule); any other `${` is
  // refused so a typo is not sent verbatim.
  let named = true;
  try {
    placeholderNames(value);
  } catch {
    named = false;
  }
  if (!named || value.replace(SECRET_PLACEHOLDER, "").includes(`\${`)) {
    throw invalidInput(
      `${where} has a malformed placeholder: write \${e2b.secrets.NAME} (NAME: letters, digits, _ or -)`,
    );
  }
  return value;
}

function checkTransforms(where: string, list: unknown): EgressHeaderTransform[] {
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidInput(`${where} must be a non-empty array of {transform: {headers: {...}}}`);
  }
  if (list.length > LIMITS.egressRulesPerDomain) {
    throw invalidInput(
      `${where} has ${list.length} rules (at most ${LIMITS.egressRulesPerDomain})`,
    );
  }
  const seen = new Set<string>();
  return list.map((rule, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(rule) || !isPlainObject(rule.transform)) {
      throw invalidInput(`${at} must be {transform: {headers: {...}}}`);
    }
    const extra = Object.keys(rule).find((k) => k !== "transform");
    if (extra !== undefined)
      throw invalidInput(`${at} has an unknown field ${JSON.stringify(extra)}`);
    const t = rule.transform;
    const extraT = Object.keys(t).find((k) => k !== "headers");
    if (extraT !== undefined) {
      throw invalidInput(`${at}.transform has an unknown field ${JSON.stringify(extraT)}`);
    }
    if (!isPlainObject(t.headers)) throw invalidInput(`${at}.transform.headers must be an object`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(t.headers)) {
      const shown = JSON.stringify(name.slice(0, LIMITS.egressRuleHeaderNameLength));
      const h = `${at}.transform.headers[${shown}]`;
      if (name.length > LIMITS.egressRuleHeaderNameLength || !TOKEN.test(name)) {
        throw invalidInput(
          `${h}: a header name is letters, digits and !#$%&'*+.^_\`|~- (at most ${LIMITS.egressRuleHeaderNameLength})`,
        );
      }
      const lower = name.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) {
        throw invalidInput(`${h}: ${name} frames the request and cannot be set by a rule`);
      }
      if (seen.has(lower)) throw invalidInput(`${h} is set twice for this domain`);
      seen.add(lower);
      if (seen.size > LIMITS.egressRuleHeaders) {
        throw invalidInput(
          `${where} sets more than ${LIMITS.egressRuleHeaders} headers (all rules together)`,
        );
      }
      headers[name] = checkHeaderValue(h, value);
    }
    return { transform: { headers } };
  });
}

/**
 * `network.rules`, checked the same way by the control plane and the agent: domains as
 * allowOut's names (canonical: lower case, no trailing dot), header names HTTP tokens (not the
 * framing ones), values printable without CR/LF, placeholders well formed, counts bounded by
 * LIMITS. Undefined or `{}` gives undefined (no rules).
 */
export function checkEgressHeaderRules(
  name: string,
  value: unknown,
): EgressHeaderRules | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    throw invalidInput(`${name} must be an object of domain -> [{transform: {headers}}]`);
  }
  const entries = Object.entries(value);
  if (entries.length > LIMITS.egressRuleDomains) {
    throw invalidInput(
      `${name} has ${entries.length} domains (at most ${LIMITS.egressRuleDomains})`,
    );
  }
  const out: EgressHeaderRules = {};
  for (const [domain, list] of entries) {
    const shown = JSON.stringify(domain.slice(0, LIMITS.egressEntryLength));
    const canonical = egressDomain(domain);
    if (canonical === undefined) {
      throw invalidInput(`${name}[${shown}] is not a host name or *. wildcard`);
    }
    if (out[canonical]) throw invalidInput(`${name}[${shown}] is listed twice`);
    out[canonical] = checkTransforms(`${name}[${shown}]`, list);
  }
  return entries.length === 0 ? undefined : out;
}

/**
 * Header values once their placeholders are filled in: still printable ASCII without CR/LF and
 * within the length limit (a secret may hold text no header can carry). The message never
 * quotes the value.
 */
export function checkResolvedEgressRules(rules: EgressHeaderRules): EgressHeaderRules {
  for (const [domain, list] of Object.entries(rules)) {
    for (const r of list) {
      for (const [name, value] of Object.entries(r.transform.headers)) {
        if (value.length > LIMITS.egressRuleHeaderValueLength || !HEADER_VALUE.test(value)) {
          throw invalidInput(
            `network.rules[${JSON.stringify(domain)}] header ${name}: the secret's value cannot be sent in an HTTP header (printable ASCII, at most ${LIMITS.egressRuleHeaderValueLength} characters); store a value that can`,
          );
        }
      }
    }
  }
  return rules;
}

/** The secret names the rules' placeholders refer to, each once. */
export function egressRuleSecretNames(rules: EgressHeaderRules | undefined): string[] {
  const names = new Set<string>();
  for (const list of Object.values(rules ?? {})) {
    for (const r of list) {
      for (const v of Object.values(r.transform.headers)) {
        for (const name of placeholderNames(v)) names.add(name);
      }
    }
  }
  return [...names];
}

/**
 * The same rules with every header value replaced by `fill`'s answer, which gets all the values
 * at once (in rule order) so the placeholders of a whole rule set resolve in one batch.
 */
export async function mapEgressRuleValues(
  rules: EgressHeaderRules,
  fill: (values: readonly string[]) => Promise<readonly string[]>,
): Promise<EgressHeaderRules> {
  const values = Object.values(rules).flatMap((list) =>
    list.flatMap((r) => Object.values(r.transform.headers)),
  );
  const filled = await fill(values);
  if (filled.length !== values.length) throw new Error("fill must answer every value");
  let i = 0;
  const out: EgressHeaderRules = {};
  for (const [domain, list] of Object.entries(rules)) {
    out[domain] = list.map((r) => ({
      transform: {
        headers: Object.fromEntries(
          Object.keys(r.transform.headers).map((k) => [k, filled[i++] as string]),
        ),
      },
    }));
  }
  return out;
}

/**
 * The headers to set on a request to this host (a client's SNI or Host), or undefined when no
 * rule covers it. The most specific domain wins: an exact name over wildcards, a longer
 * wildcard over a shorter one; its transforms apply in order.
 */
export function egressRuleHeadersFor(
  rules: EgressHeaderRules | undefined,
  raw: string,
): Array<[string, string]> | undefined {
  const host = egressHostName(raw);
  if (!rules || host === undefined) return undefined;
  let best: string | undefined;
  for (const domain of Object.keys(rules)) {
    if (!egressDomainMatches(domain, host)) continue;
    const exact = !domain.startsWith("*.");
    const bestExact = best !== undefined && !best.startsWith("*.");
    if (
      best === undefined ||
      (exact && !bestExact) ||
      (exact === bestExact && domain.length > best.length)
    ) {
      best = domain;
    }
  }
  if (best === undefined) return undefined;
  return rules[best]!.flatMap((r) => Object.entries(r.transform.headers));
}

/** EgressHeaderRules as hostagent.proto carries them (NetworkPolicy.rules, field 4). */
export interface EgressRuleWire {
  domain: string;
  transforms: Array<{ headers: Record<string, string> }>;
}

export function egressRulesToWire(rules: EgressHeaderRules | undefined): EgressRuleWire[] {
  return Object.entries(rules ?? {}).map(([domain, list]) => ({
    domain,
    transforms: list.map((r) => ({ headers: { ...r.transform.headers } })),
  }));
}

/**
 * The proto's list back in the contract's shape, unchecked (checkEgressHeaderRules follows). A
 * domain listed twice keeps both lists so the check refuses it rather than one winning.
 */
export function egressRulesFromWire(
  wire:
    | ReadonlyArray<{ domain: string; transforms: ReadonlyArray<{ headers: unknown }> }>
    | undefined,
): Record<string, unknown> | undefined {
  if (!wire || wire.length === 0) return undefined;
  const out: Record<string, unknown[]> = {};
  for (const w of wire) {
    const list = w.transforms.map((t) => ({ transform: { headers: t.headers } }));
    out[w.domain] = [...(out[w.domain] ?? []), ...list];
  }
  return out;
}
