ALTER TABLE snapshots DROP COLUMN stored_at;
