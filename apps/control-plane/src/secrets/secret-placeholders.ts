import { errorMessage, placeholderNames, SECRET_PLACEHOLDER } from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import { ServiceError, validated } from "../service/errors.js";
import { sealedValuesByName } from "../store/secret-store.js";
import type { TokenCipher } from "./token-cipher.js";

/**
 * Fills `${e2b.secrets.NAME}` placeholders with the owner's current values, in one pass: a
 * value that itself looks like a placeholder is not expanded again. Names match in any case
 * (names are stored lower-cased; E2B's Secret.fill keeps the case it was given).
 * Throws invalid_request for a placeholder whose name is not a secret name, and
 * secret_not_found naming the first secret the owner does not have.
 */
export async function resolveSecretPlaceholders(
  deps: { db: Queryable; cipher: TokenCipher },
  ownerId: string,
  texts: readonly string[],
): Promise<string[]> {
  const names = [...new Set(texts.flatMap((t) => validated(() => placeholderNames(t))))];
  const sealed = await sealedValuesByName(deps.db, ownerId, names);
  const missing = names.find((n) => !sealed.has(n));
  if (missing !== undefined) {
    throw new ServiceError("secret_not_found", errorMessage("secret_not_found", { name: missing }));
  }
  const plain = new Map<string, string>();
  for (const [name, value] of sealed) plain.set(name, deps.cipher.open(value));
  return texts.map((text) =>
    text.replace(SECRET_PLACEHOLDER, (_whole, name: string) => plain.get(name.toLowerCase()) ?? ""),
  );
}
