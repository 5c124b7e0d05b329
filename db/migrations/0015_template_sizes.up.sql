-- What a template's build takes on its host's disk (the agent's size of its root at build
-- end), counted against its owner's storage pool (apps/control-plane/src/service/quota.ts).
-- A tag's row keeps its build's size; a rebuild that failed keeps the last good one's.
ALTER TABLE templates ADD COLUMN size_bytes bigint;
-- Builds made before this migration: the size their host last reported, where it did.
UPDATE templates t SET size_bytes = (
  SELECT (e->>'sizeBytes')::bigint FROM hosts h, jsonb_array_elements(h.templates) e
  WHERE h.id = t.host_id AND e->>'name' = t.host_template LIMIT 1)
WHERE t.host_template IS NOT NULL;
