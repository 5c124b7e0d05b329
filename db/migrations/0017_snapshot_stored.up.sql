-- Snapshots that outlive their host (issue 13): when the agent reports the snapshot's upload
-- to the shared artifact store is done, any host can restore it. Until then (NULL) it lives
-- only on host_id, which a sandbox made from it is pinned to, and a host delete drops it.
ALTER TABLE snapshots ADD COLUMN stored_at timestamptz;
