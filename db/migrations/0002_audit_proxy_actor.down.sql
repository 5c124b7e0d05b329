DROP INDEX audit_events_action;
-- Keep the events: they read as the system's once the proxy actor no longer exists.
UPDATE audit_events SET actor = 'system', detail = detail || '{"actor": "proxy"}'::jsonb
  WHERE actor = 'proxy';
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_check
  CHECK (actor IN ('api', 'lifecycle', 'reconciler', 'system'));
