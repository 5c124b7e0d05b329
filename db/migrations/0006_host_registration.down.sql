DROP TABLE IF EXISTS host_refresh_tokens;
DROP TABLE IF EXISTS host_registration_tokens;
ALTER TABLE hosts DROP COLUMN state_version;
ALTER TABLE hosts DROP COLUMN agent_token_sealed;
ALTER TABLE hosts DROP COLUMN kind;
ALTER TABLE hosts DROP CONSTRAINT IF EXISTS hosts_status_check;
UPDATE hosts SET status = 'offline' WHERE status = 'unreachable';
ALTER TABLE hosts ADD CONSTRAINT hosts_status_check
  CHECK (status IN ('unknown', 'online', 'offline'));
