-- A sandbox's name (usable wherever its id is) and how a stopped sandbox ended.
ALTER TABLE sandboxes ADD COLUMN name text;
-- destroyed | expired (SANDBOX_STOP_REASONS in @wrenn/contract); set when it starts stopping.
ALTER TABLE sandboxes ADD COLUMN stop_reason text;
-- A name belongs to one sandbox of an owner at a time while that sandbox may still run: it frees
-- up when the sandbox is being stopped or fails (error leads only to stopping and stopped), so
-- a failed create, hidden from lists after a while, never holds a name out of sight, and
-- destroying a failed sandbox never takes its name back from a newer one.
CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes (owner_id, name)
  WHERE name IS NOT NULL AND state NOT IN ('stopping', 'stopped', 'error');
-- Names of ended sandboxes still resolve (to the newest), for their record and audit trail.
CREATE INDEX sandboxes_owner_name ON sandboxes (owner_id, name, started_at DESC)
  WHERE name IS NOT NULL;
