import { createHash, randomBytes } from "node:crypto";
import {
  checkSshKeyName,
  errorMessage,
  parseSshPublicKey,
  SSH_KEY_ID_PATTERN,
  SSH_LIMITS,
  type SshKeyType,
} from "@wrenn/contract";
import type { Queryable } from "../db/database.js";
import type { AuditLog } from "../service/audit-log.js";
import { ServiceError, validated } from "../service/errors.js";
import type { Principal } from "../service/sandbox-types.js";
import {
  countSshKeys,
  deleteSshKey,
  insertSshKey,
  listSshKeys,
  type SshKeyRow,
  SshKeyTaken,
} from "../store/ssh-key-store.js";

export interface SshKeyView {
  id: string;
  name: string;
  type: SshKeyType;
  fingerprint: string;
  publicKey: string;
  createdAt: Date;
}

const view = (row: SshKeyRow): SshKeyView => ({
  id: row.id,
  name: row.name,
  type: row.keyType as SshKeyType,
  fingerprint: row.fingerprint,
  publicKey: row.publicKey,
  createdAt: row.createdAt,
});

/** `SHA256:…` as OpenSSH prints it: unpadded base64 of the blob's SHA-256. */
export const sshFingerprint = (blob: Uint8Array) =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

/**
 * The public keys an owner registered. They are the only way into the owner's workspaces over
 * SSH (sshd takes no password): each workspace's authorized_keys is written from this list.
 */
export class SshKeyService {
  constructor(
    private readonly db: Queryable,
    private readonly audit: AuditLog,
  ) {}

  async add(
    principal: Principal,
    input: { name?: unknown; publicKey?: unknown },
  ): Promise<SshKeyView> {
    const key = validated(() => parseSshPublicKey(input.publicKey));
    const name = validated(() => checkSshKeyName(input.name, key));
    const fingerprint = sshFingerprint(key.blob);
    if ((await countSshKeys(this.db, principal.ownerId)) >= SSH_LIMITS.keysPerOwner) {
      throw new ServiceError(
        "too_many_ssh_keys",
        errorMessage("too_many_ssh_keys", { max: SSH_LIMITS.keysPerOwner }),
      );
    }
    const row = await insertSshKey(this.db, {
      id: `key-${randomBytes(8).toString("hex")}`,
      ownerId: principal.ownerId,
      name,
      keyType: key.type,
      canonical: key.canonical,
      publicKey: key.comment ? `${key.canonical} ${key.comment}` : key.canonical,
      fingerprint,
    }).catch((error: unknown) => {
      if (error instanceof SshKeyTaken) {
        throw new ServiceError("ssh_key_taken", errorMessage("ssh_key_taken", { fingerprint }));
      }
      throw error;
    });
    await this.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "ssh_key.add",
      outcome: "ok",
      detail: { sshKeyId: row.id, fingerprint, type: key.type },
    });
    return view(row);
  }

  async list(principal: Principal): Promise<SshKeyView[]> {
    return (await listSshKeys(this.db, principal.ownerId)).map(view);
  }

  async remove(principal: Principal, id: unknown): Promise<void> {
    const known =
      typeof id === "string" &&
      new RegExp(SSH_KEY_ID_PATTERN).test(id) &&
      (await deleteSshKey(this.db, principal.ownerId, id));
    if (!known) {
      throw new ServiceError(
        "ssh_key_not_found",
        errorMessage("ssh_key_not_found", { id: String(id) }),
      );
    }
    await this.audit.record({
      actor: "api",
      ownerId: principal.ownerId,
      apiKeyId: principal.keyId,
      action: "ssh_key.remove",
      outcome: "ok",
      detail: { sshKeyId: id },
    });
  }

  /** The owner's keys as authorized_keys lines (type, data, comment), one per line. */
  async authorizedKeys(ownerId: string): Promise<string> {
    const rows = await listSshKeys(this.db, ownerId);
    return rows.map((r) => `${r.publicKey}\n`).join("");
  }
}
