DROP TABLE IF EXISTS deleted_hosts;
-- Sandboxes of hosts deleted since lose their host before the key comes back.
UPDATE sandboxes SET host_id = NULL WHERE host_id IS NOT NULL
  AND host_id NOT IN (SELECT id FROM hosts);
ALTER TABLE sandboxes ADD CONSTRAINT sandboxes_host_id_fkey
  FOREIGN KEY (host_id) REFERENCES hosts (id);
ALTER TABLE hosts DROP COLUMN IF EXISTS drained;
