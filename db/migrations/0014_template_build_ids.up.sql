-- E2B's builder names each build (buildID) and lets a tag point at a build: a tag's row keeps
-- the build id and host template of the build it was assigned from, so one host template may
-- be named by several rows (it is deleted when the last one goes).
-- build_follower / build_heartbeat_at: the control plane following a running build, and when
-- it last said so; a build whose follower went silent is marked lost by the next sweep.
ALTER TABLE templates ADD COLUMN build_id text;
ALTER TABLE templates ADD COLUMN build_started_at timestamptz;
ALTER TABLE templates ADD COLUMN build_finished_at timestamptz;
ALTER TABLE templates ADD COLUMN build_follower text;
ALTER TABLE templates ADD COLUMN build_heartbeat_at timestamptz;
-- Builds of this NAME:TAG so far (E2B's buildCount); a tag's row counts its source's.
ALTER TABLE templates ADD COLUMN build_count integer NOT NULL DEFAULT 1;
UPDATE templates SET build_id = gen_random_uuid()::text, build_started_at = updated_at,
  build_finished_at = CASE WHEN status = 'building' THEN NULL ELSE updated_at END;
ALTER TABLE templates ALTER COLUMN build_id SET NOT NULL;
CREATE INDEX templates_building ON templates (status) WHERE status = 'building';
