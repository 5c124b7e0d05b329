-- Commands and file transfers that reach envd through the proxy (the E2B SDK's traffic) are
-- authorised by the sandbox's envd token, not by an API key: they get an actor of their own.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_check
  CHECK (actor IN ('api', 'lifecycle', 'reconciler', 'system', 'proxy'));
-- The admin UI and `wrenn audit` read one sandbox's or one owner's trail, newest first, and
-- filter by action (sandbox.exec, sandbox.file.*).
CREATE INDEX audit_events_action ON audit_events (action, at);
