ALTER TABLE sandboxes DROP COLUMN auto_resume;
