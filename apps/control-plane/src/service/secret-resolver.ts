import {
  ContractError,
  checkResolvedEgressRules,
  type EgressHeaderRules,
  egressRuleSecretNames,
  invalidInput,
  mapEgressRuleValues,
  placeholderNames,
  SECRET_PLACEHOLDER,
} from "@wrenn/contract";
import { ServiceError } from "./errors.js";

/**
 * Fills `${e2b.secrets.NAME}` placeholders with the owner's current secret values, for many texts
 * at once (a rule set's header values: one look-up). The secrets store (/secrets) implements it;
 * what `resolveAll` returns are secrets: never logged, stored in plaintext or returned to a
 * caller. Throws (the store: secret_not_found) when a name is missing.
 */
export interface SecretResolver {
  resolveAll(ownerId: string, texts: readonly string[]): Promise<string[]>;
}

/** Without a secrets store: any placeholder is refused, text without one passes as written. */
export const NO_SECRETS: SecretResolver = {
  async resolveAll(_ownerId, texts) {
    if (texts.some((t) => t.includes(`\${e2b.secrets.`))) {
      throw invalidInput(
        `network.rules uses \${e2b.secrets.NAME} but this control plane has no secrets store; write the value itself or enable /secrets`,
      );
    }
    return [...texts];
  },
};

/**
 * A real in-memory store of named values per owner (tests, and a single-user setup without a
 * database): the same placeholder syntax and refusal as the database store.
 */
export class MemorySecrets implements SecretResolver {
  private readonly byOwner = new Map<string, Map<string, string>>();

  set(ownerId: string, name: string, value: string): void {
    const m = this.byOwner.get(ownerId) ?? new Map<string, string>();
    m.set(name.toLowerCase(), value);
    this.byOwner.set(ownerId, m);
  }

  async resolveAll(ownerId: string, texts: readonly string[]): Promise<string[]> {
    const values = this.byOwner.get(ownerId);
    const missing = texts.flatMap(placeholderNames).find((n) => !values?.has(n));
    if (missing !== undefined) {
      throw invalidInput(`secret ${missing} not found; create it with POST /secrets first`);
    }
    return texts.map((t) =>
      t.replace(SECRET_PLACEHOLDER, (_m, name: string) => values?.get(name.toLowerCase()) ?? ""),
    );
  }
}

/**
 * The rules as the agent gets them: every placeholder filled in for the sandbox's owner, then
 * checked again as header values. Undefined when there are no rules.
 */
export async function resolveEgressRules(
  resolver: SecretResolver,
  ownerId: string,
  rules: EgressHeaderRules | undefined,
): Promise<EgressHeaderRules | undefined> {
  if (!rules) return undefined;
  // Nothing to look up: the rules go as written (no call into the store).
  if (egressRuleSecretNames(rules).length === 0) return rules;
  try {
    return checkResolvedEgressRules(
      await mapEgressRuleValues(rules, (values) => resolver.resolveAll(ownerId, values)),
    );
  } catch (error) {
    if (error instanceof ContractError) throw ServiceError.from(error);
    // A rule naming a secret the owner lacks is a bad request, not a missing sandbox: E2B's
    // SDKs read a 404 at create as "template not found".
    if (error instanceof ServiceError && error.code === "secret_not_found") {
      throw new ServiceError(
        "invalid_request",
        `network.rules: ${error.message}; create it with POST /secrets first`,
      );
    }
    throw error;
  }
}
