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
 * Whether the host holds this refresh token, unexpired, and unrevoked or revoked less than
 * graceSeconds ago (rotated away by a refresh whose answer may never have reached the agent).
 */
export async function refreshTokenValid(
  q: Queryable,
  hostId: string,
  tokenHash: string,
  graceSeconds: number,
): Promise<boolean> {
  const result = await q.query(
    `SELECT 1 FROM host_refresh_tokens WHERE token_hash = $1 AND host_id = $2
       AND (revoked_at IS NULL OR revoked_at > now() - make_interval(secs => $3::int))
       AND expires_at > now()`,
    [tokenHash, hostId, graceSeconds],
  );
  return result.rows.length === 1;
}

/** Revokes one refresh token; false when it was revoked already (the first time stays). */
export async function revokeRefreshToken(q: Queryable, tokenHash: string): Promise<boolean> {
  const result = await q.query(
    `UPDATE host_refresh_tokens SET revoked_at = now()
     WHERE token_hash = $1 AND revoked_at IS NULL RETURNING token_hash`,
    [tokenHash],
  );
  return result.rows.length === 1;
}
