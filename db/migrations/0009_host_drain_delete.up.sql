-- Host delete and drain (issue 13). A drained host takes no new placements.
ALTER TABLE hosts ADD COLUMN drained boolean NOT NULL DEFAULT false;
-- A deleted host's row goes, but the sandboxes that ran there keep their host_id as history:
-- the foreign key would forbid that.
ALTER TABLE sandboxes DROP CONSTRAINT IF EXISTS sandboxes_host_id_fkey;
-- Hosts deleted by an admin: a heartbeat or refresh that still names one is told so
-- (host_deleted), instead of a bare "unknown token".
CREATE TABLE deleted_hosts (
  id text PRIMARY KEY,
  url text NOT NULL,
  deleted_by text,
  deleted_at timestamptz NOT NULL DEFAULT now()
);
