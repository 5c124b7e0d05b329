-- Workspaces (issue 15): a named, persistent sandbox of its owner. The row holds the name and
-- the sizes asked for; the state is the sandbox's (the sandbox row is the truth about it).
CREATE TABLE workspaces (
  id text PRIMARY KEY,
  owner_id text NOT NULL REFERENCES owners (id),
  name text NOT NULL,
  image text NOT NULL,
  vcpus integer NOT NULL CHECK (vcpus > 0),
  memory_mb integer NOT NULL CHECK (memory_mb > 0),
  disk_gb integer NOT NULL CHECK (disk_gb > 0),
  -- Null only while its sandbox is being created.
  sandbox_id text REFERENCES sandboxes (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner_id, name)
);
CREATE INDEX workspaces_sandbox ON workspaces (sandbox_id);
