// /v1/api-keys: create, list and revoke keys (admin keys only), and the caller's own key.
import type {
  ApiKey,
  ApiKeyList,
  CreateApiKeyBody,
  CreatedApiKey,
  CurrentApiKey,
} from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { enc, wireObject } from "./wire-object.js";

export class ApiKeysClient {
  constructor(private readonly api: ApiClient) {}

  /** Every key, revoked ones included (their `revokedAt` is set). */
  async list(): Promise<ApiKey[]> {
    const body = await this.api.json({ path: "/v1/api-keys" });
    return wireObject<ApiKeyList>(body, "apiKeys", ["apiKeys"]).apiKeys;
  }

  /** A new key; `key` is the secret, shown this once. */
  async create(body: CreateApiKeyBody): Promise<CreatedApiKey> {
    const created = await this.api.json({ method: "POST", path: "/v1/api-keys", body });
    return wireObject<CreatedApiKey>(created, "createdApiKey");
  }

  /** The key this client uses, with its owner's pool usage. */
  async current(): Promise<CurrentApiKey> {
    return wireObject<CurrentApiKey>(
      await this.api.json({ path: "/v1/api-keys/current" }),
      "currentApiKey",
    );
  }

  /** Revokes a key (idempotent): requests with it fail from now on. */
  async revoke(id: string): Promise<void> {
    await this.api.json({ method: "DELETE", path: `/v1/api-keys/${enc(id)}` });
  }
}
