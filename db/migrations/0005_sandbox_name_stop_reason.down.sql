DROP INDEX IF EXISTS sandboxes_owner_name;
DROP INDEX IF EXISTS sandboxes_live_name;
ALTER TABLE sandboxes DROP COLUMN stop_reason;
ALTER TABLE sandboxes DROP COLUMN name;
