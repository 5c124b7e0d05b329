DROP INDEX IF EXISTS templates_building;
ALTER TABLE templates DROP COLUMN build_count;
ALTER TABLE templates DROP COLUMN build_heartbeat_at;
ALTER TABLE templates DROP COLUMN build_follower;
ALTER TABLE templates DROP COLUMN build_finished_at;
ALTER TABLE templates DROP COLUMN build_started_at;
ALTER TABLE templates DROP COLUMN build_id;
