ALTER TABLE host_refresh_tokens DROP COLUMN IF EXISTS replaced_by;
