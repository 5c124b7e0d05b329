-- Secrets (issue 14, E2B's /secrets): write-only values an owner names in network rules'
-- header values as ${e2b.secrets.NAME}. Names are stored lower-cased, unique per owner.
--
-- Only the current version's value is kept: nothing reads an older one (the API never returns
-- values and placeholders always resolve to the current one), and keeping a rotated credential
-- would only widen what a stolen database dump and secret key expose. current_version counts
-- the versions written (1 at create, +1 per update), as E2B's currentVersion does.
CREATE TABLE secrets (
  id text PRIMARY KEY,
  owner_id text NOT NULL REFERENCES owners (id),
  name text NOT NULL,
  current_version bigint NOT NULL DEFAULT 1,
  -- AES-256-GCM under the control plane's secret key (TokenCipher), never the plaintext.
  sealed_value text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  -- Written by the service at millisecond precision: list cursors carry created_at exactly.
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (owner_id, name)
);
CREATE INDEX secrets_owner_created ON secrets (owner_id, created_at, id);
