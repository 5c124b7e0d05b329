ALTER TABLE sandboxes DROP COLUMN error_reason;
