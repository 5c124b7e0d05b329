-- Snapshots of running sandboxes (issue 13): memory, processes and disk saved on the host that
-- took them, restorable there as new sandboxes. The row is the owner's record of what the host
-- holds; template and sizes are the source's, which a sandbox made from it gets.
CREATE TABLE snapshots (
  id text PRIMARY KEY CHECK (id ~ '^snap-[0-9a-f]{8}$'),
  owner_id text NOT NULL REFERENCES owners (id),
  name text,
  -- The sandbox it was taken from; kept after that sandbox is gone (no foreign key).
  source_sandbox_id text NOT NULL,
  host_id text NOT NULL,
  template text NOT NULL,
  vcpus integer NOT NULL CHECK (vcpus > 0),
  memory_mb integer NOT NULL CHECK (memory_mb > 0),
  disk_mb integer NOT NULL CHECK (disk_mb > 0),
  size_bytes bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX snapshots_owner_created ON snapshots (owner_id, created_at DESC, id DESC);
