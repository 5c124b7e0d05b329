import type { Queryable } from "../db/database.js";

/**
 * Registration and refresh tokens of hosts. Only hashes are stored; every check-and-use is one
 * statement, so two control planes (or two requests) cannot both spend the same token.
 */

export async function insertRegistrationToken(
  q: Queryable,
  row: { id: string; tokenHash: string; createdBy: string | null; expiresInSeconds: number },
): Promise<Date> {
  const result = await q.query<{ expires_at: Date }>(
    `INSERT INTO host_registration_tokens (id, token_hash, created_by, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4::int)) RETURNING expires_at`,
    [row.id, row.tokenHash, row.createdBy, row.expiresInSeconds],
  );
  return new Date(result.rows[0]!.expires_at);
}

/** Spends a registration token for a host: true once, false if unknown, used or expired. */
export async function spendRegistrationToken(
  q: Queryable,
  tokenHash: string,
  hostId: string,
): Promise<boolean> {
  const result = await q.query(
    `UPDATE host_registration_tokens SET used_at = now(), host_id = $2
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING id`,
    [tokenHash, hostId],
  );
  return result.rows.length === 1;
}

export async function insertRefreshToken(
  q: Queryable,
  hostId: string,
  tokenHash: string,
  lifetimeSeconds: number,
): Promise<Date> {
  const result = await q.query<{ expires_at: Date }>(
    `INSERT INTO host_refresh_tokens (token_hash, host_id, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3::int)) RETURNING expires_at`,
    [tokenHash, hostId, lifetimeSeconds],
  );
  return new Date(result.rows[0]!.expires_at);
}

/**
 * What a presented refresh token is worth, read under a row lock so two refreshes with the same
 * token take turns: `live` (never spent), `grace` (spent by its own refresh less than
 * graceSeconds ago, whose answer may never have reached the agent), `replay` (revoked without
 * being spent, or spent longer ago: a copy someone kept), or null (unknown, expired, or not
 * this host's).
 */
export async function lockRefreshToken(
  q: Queryable,
  hostId: string,
  tokenHash: string,
  graceSeconds: number,
): Promise<"live" | "grace" | "replay" | null> {
  const result = await q.query<{ state: "live" | "grace" | "replay" }>(
    `SELECT CASE
         WHEN revoked_at IS NULL THEN 'live'
         WHEN replaced_by IS NOT NULL
           AND revoked_at > now() - make_interval(secs => $3::int) THEN 'grace'
         ELSE 'replay' END AS state
     FROM host_refresh_tokens WHERE token_hash = $1 AND host_id = $2 AND expires_at > now()
     FOR UPDATE`,
    [tokenHash, hostId, graceSeconds],
  );
  return result.rows[0]?.state ?? null;
}

/**
 * Records that spending `spentHash` issued `successorHash` (its revocation time stays the first
 * one, so the grace runs from the first rotation), and revokes every other unrevoked refresh
 * token of the host, such as a successor an earlier use of the same token issued: at most one
 * refresh token of a host is ever live. Those are revoked unspent, so using one is a replay.
 */
export async function rotateRefreshToken(
  q: Queryable,
  hostId: string,
  spentHash: string,
  successorHash: string,
): Promise<void> {
  await q.query(
    `UPDATE host_refresh_tokens SET revoked_at = coalesce(revoked_at, now()), replaced_by = $3
     WHERE token_hash = $2 AND host_id = $1`,
    [hostId, spentHash, successorHash],
  );
  await q.query(
    `UPDATE host_refresh_tokens SET revoked_at = now()
     WHERE host_id = $1 AND revoked_at IS NULL AND token_hash <> $2`,
    [hostId, successorHash],
  );
}

/**
 * Ends a host's whole refresh-token family after a replay: every token, spent or not, in grace
 * or not, stops working, and the host must be registered again.
 */
export async function revokeHostRefreshTokens(q: Queryable, hostId: string): Promise<number> {
  const result = await q.query(
    `UPDATE host_refresh_tokens
     SET revoked_at = coalesce(revoked_at, now()), expires_at = least(expires_at, now())
     WHERE host_id = $1 AND expires_at > now() RETURNING token_hash`,
    [hostId],
  );
  return result.rows.length;
}
