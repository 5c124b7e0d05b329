import { randomBytes } from "node:crypto";
import {
  checkSecretMetadata,
  checkSecretName,
  checkSecretValue,
  errorMessage,
  isSecretId,
  SECRET_ID_PATTERN,
  SECRET_LIMITS,
} from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import type { AuditLog } from "../service/audit-log.js";
import { ServiceError, validated } from "../service/errors.js";
import { decodeCursor, encodeCursor } from "../service/list-cursor.js";
import type { Principal } from "../service/sandbox-types.js";
import {
  deleteSecret,
  findSecret,
  insertSecret,
  listSecrets,
  SecretNameTaken,
  type SecretRow,
  updateSecret,
} from "../store/secret-store.js";
import { resolveSecretPlaceholders } from "./secret-placeholders.js";
import type { TokenCipher } from "./token-cipher.js";

export interface SecretPageResult {
  secrets: SecretRow[];
  nextCursor?: string;
}

const SECRET_ID = new RegExp(SECRET_ID_PATTERN);

const notFound = (ref: string) =>
  new ServiceError(
    "secret_not_found",
    errorMessage("secret_not_found", { name: ref.slice(0, SECRET_LIMITS.nameLength) }),
  );

/**
 * An owner's secrets. Values are sealed with the control plane's secret key before they reach
 * the database and are never returned, logged or audited: only resolvePlaceholders opens them,
 * for the egress path that fills them into header values.
 */
export class SecretService {
  private changeListener?: (ownerId: string, name: string) => Promise<void>;

  /**
   * Called (and awaited) after a secret's value is stored: running sandboxes whose header rules
   * name it get the new value (SandboxService.secretChanged). Its failures are its own to log.
   */
  onValueChanged(listener: (ownerId: string, name: string) => Promise<void>): void {
    this.changeListener = listener;
  }

  constructor(
    private readonly options: {
      db: Queryable;
      cipher: TokenCipher;
      audit: AuditLog;
      /** WRENN_SECRETS: off answers every secrets request with 403 secrets_disabled. */
      enabled: boolean;
    },
  ) {}

  private checkEnabled(): void {
    if (!this.options.enabled) throw new ServiceError("secrets_disabled");
  }

  /** An id (sec_…) or a name in any case; undefined when it can be neither. */
  private ref(ref: unknown): { byId: boolean; value: string } | undefined {
    if (typeof ref !== "string") return undefined;
    if (isSecretId(ref)) return { byId: true, value: ref };
    try {
      return { byId: false, value: checkSecretName(ref) };
    } catch {
      return undefined;
    }
  }

  private async audit(principal: Principal, action: string, row: SecretRow): Promise<void> {
    await this.options.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action,
      outcome: "ok",
      // Names only: never the value, not even its length.
      detail: { secretId: row.id, name: row.name, version: row.currentVersion },
    });
  }

  async create(
    principal: Principal,
    input: { name?: unknown; value?: unknown; metadata?: unknown },
  ): Promise<SecretRow> {
    this.checkEnabled();
    const name = validated(() => checkSecretName(input.name));
    const value = validated(() => checkSecretValue(input.value));
    const metadata = validated(() => checkSecretMetadata(input.metadata));
    const row = await insertSecret(
      this.options.db,
      {
        id: `sec_${randomBytes(8).toString("hex")}`,
        ownerId: principal.ownerId,
        name,
        metadata,
        sealedValue: this.options.cipher.seal(value),
        // Millisecond precision, so list cursors carry it exactly.
        createdAt: new Date(),
      },
      SECRET_LIMITS.secretsPerOwner,
    ).catch((error: unknown) => {
      if (error instanceof SecretNameTaken) {
        throw new ServiceError("secret_name_taken", errorMessage("secret_name_taken", { name }));
      }
      throw error;
    });
    if (!row) {
      throw new ServiceError(
        "too_many_secrets",
        errorMessage("too_many_secrets", { max: SECRET_LIMITS.secretsPerOwner }),
      );
    }
    await this.audit(principal, "secret.create", row);
    return row;
  }

  async list(
    principal: Principal,
    query: { limit?: number; cursor?: string },
  ): Promise<SecretPageResult> {
    this.checkEnabled();
    const limit = query.limit ?? SECRET_LIMITS.list.default;
    const after =
      query.cursor === undefined || query.cursor === ""
        ? undefined
        : decodeCursor(query.cursor, SECRET_ID);
    const rows = await listSecrets(this.options.db, principal.ownerId, {
      limit: limit + 1,
      after: after && { createdAt: after.startedAt, id: after.id },
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      secrets: page,
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor({ startedAt: last.createdAt, id: last.id }) }
        : {}),
    };
  }

  async get(principal: Principal, refText: unknown): Promise<SecretRow> {
    this.checkEnabled();
    const ref = this.ref(refText);
    const row = ref && (await findSecret(this.options.db, principal.ownerId, ref));
    if (!row) throw notFound(String(refText));
    return row;
  }

  /** A new version: the value replaced, metadata replaced when given (kept when not). */
  async update(
    principal: Principal,
    refText: unknown,
    input: { value?: unknown; metadata?: unknown },
  ): Promise<SecretRow> {
    this.checkEnabled();
    const value = validated(() => checkSecretValue(input.value));
    const metadata =
      input.metadata === undefined
        ? undefined
        : validated(() => checkSecretMetadata(input.metadata));
    const ref = this.ref(refText);
    const row =
      ref &&
      (await updateSecret(this.options.db, principal.ownerId, ref, {
        sealedValue: this.options.cipher.seal(value),
        metadata,
        at: new Date(),
      }));
    if (!row) throw notFound(String(refText));
    await this.audit(principal, "secret.update", row);
    await this.changeListener?.(principal.ownerId, row.name);
    return row;
  }

  async remove(principal: Principal, refText: unknown): Promise<void> {
    this.checkEnabled();
    const ref = this.ref(refText);
    const row = ref && (await deleteSecret(this.options.db, principal.ownerId, ref));
    if (!row) throw notFound(String(refText));
    await this.audit(principal, "secret.delete", row);
  }

  /**
   * `text` with every `${e2b.secrets.NAME}` replaced by the owner's current value of NAME;
   * secret_not_found naming the first missing one. For the egress path only: what it returns
   * must never be stored in plaintext, logged or sent to a sandbox.
   */
  async resolvePlaceholders(ownerId: string, text: string): Promise<string> {
    this.checkEnabled();
    const [resolved] = await this.resolveAll(ownerId, [text]);
    return resolved as string;
  }

  /** resolvePlaceholders for many texts (a rule set's header values) in one query. */
  async resolveAll(ownerId: string, texts: readonly string[]): Promise<string[]> {
    this.checkEnabled();
    return resolveSecretPlaceholders(this.options, ownerId, texts);
  }
}
