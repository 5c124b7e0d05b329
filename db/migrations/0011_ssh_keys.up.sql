-- SSH public keys (issue 15): the keys an owner registered, written into each of the owner's
-- workspaces' authorized_keys. One key once per owner (by its type and data, not its comment).
CREATE TABLE ssh_keys (
  id text PRIMARY KEY,
  owner_id text NOT NULL REFERENCES owners (id),
  name text NOT NULL,
  key_type text NOT NULL,
  -- `type base64`, without the comment: what makes two registrations the same key.
  canonical text NOT NULL,
  public_key text NOT NULL,
  fingerprint text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner_id, canonical)
);
