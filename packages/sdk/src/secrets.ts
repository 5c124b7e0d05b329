// Secrets (/v1/secrets): write-only values a sandbox's network rules name as
// `${e2b.secrets.NAME}` (Secrets.fill), filled in at egress so they never enter the sandbox.
import {
  type CreateSecretBody,
  type Secret as SecretJson,
  type SecretPage,
  secretPlaceholder,
  type UpdateSecretBody,
} from "@wrenn/contract";
import { ApiClient } from "./api-client.js";
import { ConnectionConfig, type ConnectionOpts } from "./connection-config.js";

/** A secret's record (never its value), with Dates. */
export interface SecretInfo extends Omit<SecretJson, "createdAt" | "updatedAt"> {
  createdAt: Date;
  updatedAt: Date;
}

const parse = (s: SecretJson): SecretInfo => ({
  ...s,
  createdAt: new Date(s.createdAt),
  updatedAt: new Date(s.updatedAt),
});

const at = (ref: string) => `/v1/secrets/${encodeURIComponent(ref)}`;
const client = (opts: ConnectionOpts) => new ApiClient(new ConnectionConfig(opts));

export const Secrets = {
  /** Stores a new secret (version 1). The value is never returned by any call. */
  async add(
    name: string,
    value: string,
    opts: { metadata?: Record<string, string> } & ConnectionOpts = {},
  ): Promise<SecretInfo> {
    const { metadata, ...connection } = opts;
    const body: CreateSecretBody = { name, value, ...(metadata ? { metadata } : {}) };
    const r = await client(connection).json({ method: "POST", path: "/v1/secrets", body });
    return parse(r as SecretJson);
  },

  /** Every secret of yours (all pages), oldest first. */
  async list(opts: ConnectionOpts = {}): Promise<SecretInfo[]> {
    const api = client(opts);
    const out: SecretInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = (await api.json({ path: "/v1/secrets", query: { cursor } })) as SecretPage;
      out.push(...page.secrets.map(parse));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  },

  /** One secret by id (sec_…) or name; NotFoundError (secret_not_found) when you have none. */
  async get(ref: string, opts: ConnectionOpts = {}): Promise<SecretInfo> {
    return parse((await client(opts).json({ path: at(ref) })) as SecretJson);
  },

  /** Writes a new version of the value; metadata is replaced when given, else kept. */
  async update(
    ref: string,
    value: string,
    opts: { metadata?: Record<string, string> } & ConnectionOpts = {},
  ): Promise<SecretInfo> {
    const { metadata, ...connection } = opts;
    const body: UpdateSecretBody = { value, ...(metadata ? { metadata } : {}) };
    return parse(
      (await client(connection).json({ method: "POST", path: at(ref), body })) as SecretJson,
    );
  },

  async remove(ref: string, opts: ConnectionOpts = {}): Promise<void> {
    await client(opts).json({ method: "DELETE", path: at(ref) });
  },

  /**
   * The placeholder for a secret's current value, `${e2b.secrets.NAME}`, to put in a network
   * rule's header value (as E2B's Secret.fill). Local: it does not check that NAME exists.
   */
  fill(name: string): string {
    return secretPlaceholder(name);
  },
};
