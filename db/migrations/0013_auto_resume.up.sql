-- E2B's lifecycle.autoResume (issue 13): traffic through the proxy to a paused sandbox that
-- asked for it resumes it first. Only with auto_pause (E2B's onTimeout: pause).
ALTER TABLE sandboxes ADD COLUMN auto_resume boolean NOT NULL DEFAULT false;
