// Helpers shared by the API test suites.
import type { Queryable } from "../db/database.js";
import type { TestStack } from "./test-control-plane.js";

export interface UserKey {
  key: string;
  id: string;
  ownerId: string;
}

export async function createKey(
  stack: Pick<TestStack, "call">,
  body: Record<string, unknown> = {},
): Promise<UserKey> {
  const response = await stack.call("POST", "/v1/api-keys", {
    body: { name: "test user", ...body },
  });
  if (response.status !== 201)
    throw new Error(`key creation failed: ${response.status} ${response.text}`);
  const created = response.body as { key: string; apiKey: { id: string; ownerId: string } };
  return { key: created.key, id: created.apiKey.id, ownerId: created.apiKey.ownerId };
}

export async function createSandbox(
  stack: Pick<TestStack, "call">,
  key: string | undefined,
  body: Record<string, unknown> = {},
): Promise<{ id: string; envdAccessToken: string; state: string }> {
  const response = await stack.call("POST", "/v1/sandboxes", { key, body });
  if (response.status !== 201)
    throw new Error(`create failed: ${response.status} ${response.text}`);
  return response.body as { id: string; envdAccessToken: string; state: string };
}

/**
 * Everything a request could have changed, in a comparable form. Hosts are left out: the
 * monitor legitimately refreshes them.
 */
export async function snapshot(db: Queryable): Promise<string> {
  const tables = ["owners", "api_keys", "sandboxes", "audit_events", "secrets"];
  const parts: string[] = [];
  for (const table of tables) {
    const rows = await db.query(`SELECT * FROM ${table} ORDER BY 1`);
    parts.push(`${table}: ${JSON.stringify(rows.rows)}`);
  }
  return parts.join("\n");
}

export async function sandboxState(db: Queryable, id: string): Promise<string | undefined> {
  const result = await db.query<{ state: string }>("SELECT state FROM sandboxes WHERE id = $1", [
    id,
  ]);
  return result.rows[0]?.state;
}

/** Moves a sandbox's end time into the past, as if its timeout had run out. */
export async function expireNow(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE sandboxes SET end_at = now() - interval '1 second' WHERE id = $1", [id]);
}
