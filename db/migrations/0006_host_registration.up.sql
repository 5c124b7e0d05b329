-- Many hosts (issue 13): agents join with a one-time registration token and heartbeat with a
-- JWT; a host silent too long is 'unreachable' (was 'offline').
ALTER TABLE hosts DROP CONSTRAINT IF EXISTS hosts_status_check;
UPDATE hosts SET status = 'unreachable' WHERE status = 'offline';
ALTER TABLE hosts ADD CONSTRAINT hosts_status_check
  CHECK (status IN ('unknown', 'online', 'unreachable'));
-- configured: from WRENN_AGENT_URL, polled. registered: joined with a token, heartbeats.
ALTER TABLE hosts ADD COLUMN kind text NOT NULL DEFAULT 'configured'
  CHECK (kind IN ('configured', 'registered'));
-- The bearer token the control plane sends to a registered agent, sealed with the secret key.
ALTER TABLE hosts ADD COLUMN agent_token_sealed text;
-- The agent's own state counter as last reconciled: a heartbeat that moves it triggers one.
ALTER TABLE hosts ADD COLUMN state_version text;

CREATE TABLE host_registration_tokens (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  created_by text,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  host_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE host_refresh_tokens (
  token_hash text PRIMARY KEY,
  host_id text NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX host_refresh_tokens_host ON host_refresh_tokens (host_id);
