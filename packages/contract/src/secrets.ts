// Secrets (issue 14, E2B's /secrets): write-only values an owner stores once and names in
// `network.rules` header values as `${e2b.secrets.NAME}`, filled in at egress so the value never
// enters a sandbox. The limits, validators and /v1 shapes live here; the control plane, the SDK
// and the CLI read them. E2B's wire shape (secretID, X-Next-Token) is the control plane's.
import { type Static, Type } from "typebox";
import { ContractError, invalidInput } from "./errors/error-codes.js";
import { DateTime, Nullable } from "./schemas/shared.js";
import { checkText } from "./validators/text.js";

export const SECRET_LIMITS = {
  nameLength: 128,
  /** UTF-8 bytes of one value. */
  valueBytes: 64 * 1024,
  /** A whole create or update request body. */
  bodyBytes: 512 * 1024,
  metadataEntries: 32,
  metadataKeyBytes: 128,
  metadataValueBytes: 1024,
  /** Every metadata key and value together, in UTF-8 bytes. */
  metadataTotalBytes: 8192,
  secretsPerOwner: 1000,
  list: { min: 1, max: 100, default: 100 },
  cursorLength: 512,
} as const;

export const SECRET_NAME_PATTERN = "^[a-zA-Z0-9_-]+$";
/** `sec_` and 64 random bits; names may not start with `sec_`, so a reference is never both. */
export const SECRET_ID_PATTERN = "^sec_[0-9a-f]{16}$";
const SECRET_ID_PREFIX = "sec_";

const namePattern = new RegExp(SECRET_NAME_PATTERN);
const idPattern = new RegExp(SECRET_ID_PATTERN);
const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

export const isSecretId = (ref: string) => idPattern.test(ref);

/** A secret's name as stored: 1..128 of [a-zA-Z0-9_-], lower-cased, not starting with sec_. */
export function checkSecretName(name: unknown): string {
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    name.length > SECRET_LIMITS.nameLength ||
    !namePattern.test(name)
  ) {
    throw invalidInput(
      `name must be 1 to ${SECRET_LIMITS.nameLength} letters, digits, '_' or '-' (got ${JSON.stringify(String(name).slice(0, 40))})`,
    );
  }
  const lower = name.toLowerCase();
  if (lower.startsWith(SECRET_ID_PREFIX)) {
    throw invalidInput(
      `name may not start with "${SECRET_ID_PREFIX}": that prefix marks secret ids`,
    );
  }
  return lower;
}

/**
 * A secret's value: 1 byte to 64 KiB. It is filled into HTTP header values, so no control
 * characters but tab (a CR or LF would let it add headers of its own); a file read for it
 * should have its trailing newline removed (the CLI does).
 */
export function checkSecretValue(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw invalidInput("value must be a non-empty string");
  }
  if (utf8Bytes(value) > SECRET_LIMITS.valueBytes) {
    throw invalidInput(`value must be at most ${SECRET_LIMITS.valueBytes} bytes (UTF-8)`);
  }
  checkText("value", value);
  // Not quoted back: the message must not carry any of the value.
  const control = [...value].some((c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && c !== "\t") || code === 0x7f;
  });
  if (control) {
    throw invalidInput(
      "value may not contain control characters other than tab (it is sent as an HTTP header value); strip a trailing newline",
    );
  }
  return value;
}

/** Metadata: ≤32 entries, keys 1..128 bytes, values ≤1024 bytes, ≤8192 bytes in all. */
export function checkSecretMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidInput("metadata must be an object of strings");
  }
  const entries = Object.entries(value);
  const L = SECRET_LIMITS;
  if (entries.length > L.metadataEntries) {
    throw invalidInput(`metadata may have at most ${L.metadataEntries} entries`);
  }
  let total = 0;
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const shown = JSON.stringify(k.slice(0, 40));
    const keyBytes = utf8Bytes(k);
    if (keyBytes === 0 || keyBytes > L.metadataKeyBytes) {
      throw invalidInput(`metadata key ${shown} must be 1 to ${L.metadataKeyBytes} bytes`);
    }
    if (typeof v !== "string" || utf8Bytes(v) > L.metadataValueBytes) {
      throw invalidInput(
        `metadata.${k.slice(0, 40)} must be a string of at most ${L.metadataValueBytes} bytes`,
      );
    }
    checkText(`metadata key ${shown}`, k);
    checkText(`metadata.${k.slice(0, 40)}`, v);
    total += keyBytes + utf8Bytes(v);
    out[k] = v;
  }
  if (total > L.metadataTotalBytes) {
    throw invalidInput(
      `metadata keys and values together must be at most ${L.metadataTotalBytes} bytes (got ${total})`,
    );
  }
  return out;
}

// ---- Placeholders: `${e2b.secrets.NAME}` in a network rule's header value.

/** Every `${e2b.secrets.…}` in a text; group 1 is what stands for the name. */
export const SECRET_PLACEHOLDER = /\$\{e2b\.secrets\.([^}]*)\}/g;

/** The placeholder that stands for a secret's current value (E2B's `Secret.fill(name)`). */
export function secretPlaceholder(name: string): string {
  if (!namePattern.test(name) || name.length > SECRET_LIMITS.nameLength) {
    throw new ContractError(
      "invalid_request",
      `${JSON.stringify(name.slice(0, 40))} is not a secret name (1 to ${SECRET_LIMITS.nameLength} letters, digits, '_' or '-')`,
    );
  }
  return `\${e2b.secrets.${name}}`;
}

/** The distinct secret names (as stored: lower-cased) a text's placeholders refer to. */
export function placeholderNames(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(SECRET_PLACEHOLDER)) {
    names.add(checkSecretName(match[1]));
  }
  return [...names];
}

// ---- REST (/v1/secrets)

export const CreateSecretBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: SECRET_LIMITS.nameLength,
      pattern: SECRET_NAME_PATTERN,
      description: "Stored lower-cased; may not start with sec_",
    }),
    value: Type.String({
      minLength: 1,
      // Characters never outnumber UTF-8 bytes: the byte limit itself is checked by the service.
      maxLength: SECRET_LIMITS.valueBytes,
      description: `Write-only: never returned. At most ${SECRET_LIMITS.valueBytes} bytes; no control characters but tab`,
    }),
    metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  {
    additionalProperties: false,
    examples: [{ name: "openai-api-key", value: "sk-…", metadata: { team: "ml" } }],
  },
);
export type CreateSecretBody = Static<typeof CreateSecretBody>;

export const UpdateSecretBody = Type.Object(
  {
    value: CreateSecretBody.properties.value,
    metadata: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: "Replaces the stored metadata when given; kept when left out",
      }),
    ),
  },
  { additionalProperties: false, examples: [{ value: "sk-…", metadata: { rotated: "2026-12" } }] },
);
export type UpdateSecretBody = Static<typeof UpdateSecretBody>;

export const Secret = Type.Object({
  id: Type.String({ pattern: SECRET_ID_PATTERN }),
  name: Type.String(),
  /** 1 at create; each update adds one. */
  currentVersion: Type.Integer({ minimum: 1 }),
  metadata: Type.Record(Type.String(), Type.String()),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export type Secret = Static<typeof Secret>;

export const SecretPage = Type.Object({
  secrets: Type.Array(Secret),
  nextCursor: Nullable(Type.String()),
});
export type SecretPage = Static<typeof SecretPage>;

export const ListSecretsQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: SECRET_LIMITS.list.min, maximum: SECRET_LIMITS.list.max }),
  ),
  cursor: Type.Optional(Type.String({ maxLength: SECRET_LIMITS.cursorLength })),
});

/** A secret's id (sec_…) or its name (any case). */
export const SecretRefParams = Type.Object({
  secret: Type.String({ minLength: 1, maxLength: SECRET_LIMITS.nameLength }),
});
