DROP TABLE audit_events;
DROP TABLE sandboxes;
DROP TABLE hosts;
DROP TABLE api_keys;
DROP TABLE owners;
