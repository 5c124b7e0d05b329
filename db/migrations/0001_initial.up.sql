-- Owners hold sandboxes; API keys act for an owner. A sandbox is visible to every key of its
-- owner and to nobody else.
CREATE TABLE owners (
  id text PRIMARY KEY CHECK (id ~ '^own-[0-9a-f]{8}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is kept. Keys carry ~190 bits of randomness, so a fast hash is
-- enough (no dictionary to defend against) and lets every request be checked with one lookup.
CREATE TABLE api_keys (
  id text PRIMARY KEY CHECK (id ~ '^key-[0-9a-f]{8}$'),
  owner_id text NOT NULL REFERENCES owners (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  key_sha256 text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
  role text NOT NULL CHECK (role IN ('admin', 'user')),
  -- Pools: the most this key's live sandboxes may hold at once.
  pool_vcpus integer NOT NULL CHECK (pool_vcpus >= 0),
  pool_memory_mb integer NOT NULL CHECK (pool_memory_mb >= 0),
  pool_storage_mb integer NOT NULL CHECK (pool_storage_mb >= 0),
  create_rate_per_minute integer NOT NULL CHECK (create_rate_per_minute >= 0),
  created_by text REFERENCES api_keys (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_owner ON api_keys (owner_id);

-- Host agents. Their bearer tokens come from configuration and are not stored here.
CREATE TABLE hosts (
  id text PRIMARY KEY CHECK (id ~ '^host-[0-9a-f]{8}$'),
  url text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline')),
  agent_host_id text,
  hostname text,
  version text,
  instance_id text,
  runtimes jsonb NOT NULL DEFAULT '[]',
  capacity_total jsonb,
  capacity_used jsonb,
  sandboxes_by_state jsonb NOT NULL DEFAULT '{}',
  templates jsonb NOT NULL DEFAULT '[]',
  consecutive_failures integer NOT NULL DEFAULT 0,
  last_error text,
  last_seen_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandboxes (
  id text PRIMARY KEY CHECK (id ~ '^sb-[0-9a-f]{8}$'),
  owner_id text NOT NULL REFERENCES owners (id),
  -- The key that created it; pools and the create rate are charged to this key.
  api_key_id text NOT NULL REFERENCES api_keys (id),
  template text NOT NULL,
  -- DESIGN.md's states plus the transitions in flight (pausing, resuming, stopping), which
  -- op_deadline guards: a row stuck in one past its deadline is settled by the lifecycle manager.
  state text NOT NULL CHECK (state IN ('pending', 'starting', 'running', 'pausing', 'paused',
    'resuming', 'hibernated', 'stopping', 'stopped', 'error', 'missing')),
  vcpus integer NOT NULL CHECK (vcpus > 0),
  memory_mb integer NOT NULL CHECK (memory_mb > 0),
  disk_mb integer NOT NULL CHECK (disk_mb > 0),
  metadata jsonb NOT NULL DEFAULT '{}',
  -- Names only: values may be secrets, and envd keeps them across pause/resume in its memory.
  env_var_names text[] NOT NULL DEFAULT '{}',
  allow_internet boolean NOT NULL DEFAULT false,
  -- Egress CIDRs beside allow_internet: {"allowOut": [...], "denyOut": [...]}.
  network jsonb NOT NULL DEFAULT '{"allowOut": [], "denyOut": []}',
  auto_pause boolean NOT NULL DEFAULT false,
  -- The timeout asked for at creation, reused when a resume does not give one.
  timeout_seconds integer NOT NULL CHECK (timeout_seconds >= 0),
  envd_version text,
  -- AES-256-GCM under the control plane's secret key: "v1.<key id>.<iv>.<ciphertext>.<tag>".
  envd_token_sealed text NOT NULL,
  host_id text REFERENCES hosts (id),
  started_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL,
  state_changed_at timestamptz NOT NULL DEFAULT now(),
  op_deadline timestamptz,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
CREATE INDEX sandboxes_owner_started ON sandboxes (owner_id, started_at DESC, id DESC);
CREATE INDEX sandboxes_expiry ON sandboxes (end_at) WHERE state = 'running';
CREATE INDEX sandboxes_in_flight ON sandboxes (op_deadline)
  WHERE state IN ('starting', 'pausing', 'resuming', 'stopping');
CREATE INDEX sandboxes_key_created ON sandboxes (api_key_id, created_at);
CREATE INDEX sandboxes_host ON sandboxes (host_id) WHERE state <> 'stopped';
CREATE INDEX sandboxes_metadata ON sandboxes USING gin (metadata jsonb_path_ops);

-- Append-only. No foreign keys: the trail must outlive and never block what it describes.
CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL CHECK (actor IN ('api', 'lifecycle', 'reconciler', 'system')),
  owner_id text,
  api_key_id text,
  action text NOT NULL,
  sandbox_id text,
  outcome text NOT NULL CHECK (outcome IN ('ok', 'error', 'deferred')),
  duration_ms integer,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_sandbox ON audit_events (sandbox_id, at);
CREATE INDEX audit_events_owner ON audit_events (owner_id, at);
