-- A sandbox's name (usable wherever its id is) and how a stopped sandbox ended.
ALTER TABLE sandboxes ADD COLUMN name text;
-- destroyed | expired (SANDBOX_STOP_REASONS in @wrenn/contract); set when it starts stopping.
ALTER TABLE sandboxes ADD COLUMN stop_reason text;
-- A name belongs to one sandbox of an owner at a time while that sandbox may still run: it frees
-- up when the sandbox stops or fails (error is an end state), so a failed create, hidden from
-- lists after a while, never holds a name out of sight.
CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes (owner_id, name)
  WHERE name IS NOT NULL AND state NOT IN ('stopped', 'error');
-- Names of ended sandboxes still resolve (to the newest), for their record and audit trail.
CREATE INDEX sandboxes_owner_name ON sandboxes (owner_id, name, started_at DESC)
  WHERE name IS NOT NULL;
