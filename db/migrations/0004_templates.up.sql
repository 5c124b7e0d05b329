-- Templates owners build from OCI images. host_template is the host agent's name for the
-- built root filesystem (t- + 8 hex); a rebuild makes a new one and switches when it is ready.
CREATE TABLE templates (
  id text PRIMARY KEY,
  owner_id text NOT NULL REFERENCES owners (id),
  name text NOT NULL,
  tag text NOT NULL,
  from_image text NOT NULL,
  status text NOT NULL,
  step text,
  error_code text,
  error_message text,
  error_step text,
  vcpus integer NOT NULL,
  memory_mb integer NOT NULL,
  host_id text,
  host_template text,
  building_host_template text,
  logs jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner_id, name, tag)
);
CREATE INDEX templates_host_template ON templates (host_template);
