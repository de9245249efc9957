-- The first full schema of the gateway's domain (DESIGN.md §2).
-- Conventions: times are Unix epoch milliseconds (INTEGER); money is USD (REAL);
-- every tenant-scoped table carries organization_id and every query filters by it;
-- secrets are never stored in clear: credentials and upstream keys are AES-GCM
-- ciphertext (`*_ciphertext`), gateway keys and invitation tokens are SHA-256 hashes.

CREATE TABLE organizations (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT    NOT NULL,
  slug        TEXT    NOT NULL UNIQUE,
  plan        TEXT    NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

-- A single-owner deployment acts in this organization with the admin token from the first start.
INSERT INTO organizations (id, name, slug, plan, created_at, updated_at)
VALUES (1, 'Default', 'default', 'enterprise', CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));

CREATE TABLE users (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  email               TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  name                TEXT    NOT NULL DEFAULT '',
  password_hash       TEXT    NOT NULL,
  password_salt       TEXT    NOT NULL,
  password_iterations INTEGER NOT NULL,
  status              TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  last_login_at       INTEGER,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);

CREATE TABLE memberships (
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE invitations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  email           TEXT    NOT NULL COLLATE NOCASE,
  role            TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
  token_hash      TEXT    NOT NULL UNIQUE,
  invited_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
  expires_at      INTEGER NOT NULL,
  accepted_at     INTEGER,
  cancelled_at    INTEGER,
  created_at      INTEGER NOT NULL
);
CREATE INDEX invitations_by_org ON invitations (organization_id, created_at);

-- One upstream deployment: a relay panel or an official provider.
CREATE TABLE stations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name            TEXT    NOT NULL,
  platform        TEXT    NOT NULL,
  base_url        TEXT    NOT NULL,
  dialects        TEXT    NOT NULL DEFAULT '["openai"]',   -- JSON array of wire dialects the relay serves
  weight          INTEGER NOT NULL DEFAULT 10,
  priority        INTEGER NOT NULL DEFAULT 0,
  enabled         INTEGER NOT NULL DEFAULT 1,
  checkin_enabled INTEGER NOT NULL DEFAULT 0,
  quota_per_unit  REAL,                                    -- read from the panel's /api/status, never assumed
  last_synced_at  INTEGER,
  last_sync_error TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (organization_id, name)
);
CREATE INDEX stations_by_org ON stations (organization_id);

-- A login on a station. `credential_ciphertext` holds the AES-GCM sealed JSON of whatever the
-- platform needs (access token, cookie, username/password, API key); `panel_user_id` is the
-- panel's public numeric user id (sent as New-Api-User), not a secret.
CREATE TABLE accounts (
  id                    INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id       INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  station_id            INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  name                  TEXT    NOT NULL DEFAULT '',
  credential_kind       TEXT    NOT NULL CHECK (credential_kind IN ('access_token', 'cookie', 'password', 'api_key')),
  credential_ciphertext TEXT    NOT NULL,
  panel_user_id         TEXT,
  health                TEXT    NOT NULL DEFAULT 'healthy' CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'disabled')),
  health_reason         TEXT,
  health_changed_at     INTEGER,
  balance_usd           REAL,
  used_usd              REAL,
  balance_updated_at    INTEGER,
  checkin_enabled       INTEGER NOT NULL DEFAULT 0,
  enabled               INTEGER NOT NULL DEFAULT 1,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL
);
CREATE INDEX accounts_by_station ON accounts (organization_id, station_id);
CREATE INDEX accounts_checkin ON accounts (checkin_enabled, enabled);

-- An sk- key an account holds on its station (discovered by sync or entered by hand).
CREATE TABLE upstream_keys (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  station_id      INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  remote_id       TEXT,                                    -- the panel's token id, NULL for keys entered by hand
  name            TEXT    NOT NULL DEFAULT '',
  key_ciphertext  TEXT    NOT NULL,
  key_hint        TEXT    NOT NULL,                        -- e.g. "sk-…WxYz", safe to show
  status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invalid', 'disabled')),
  status_reason   TEXT,
  group_name      TEXT    NOT NULL DEFAULT '',
  source          TEXT    NOT NULL DEFAULT 'sync' CHECK (source IN ('sync', 'manual')),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (account_id, remote_id)
);
CREATE INDEX upstream_keys_by_station ON upstream_keys (organization_id, station_id);

-- Models a station offers, with the pricing it publishes (USD per million tokens or per call).
CREATE TABLE station_models (
  organization_id        INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  station_id             INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  model                  TEXT    NOT NULL,
  billing                TEXT    NOT NULL DEFAULT 'unknown' CHECK (billing IN ('tokens', 'per_call', 'unknown')),
  input_usd_per_mtok     REAL,
  output_usd_per_mtok    REAL,
  cache_read_usd_per_mtok REAL,
  usd_per_call           REAL,
  endpoint_types         TEXT    NOT NULL DEFAULT '[]',
  updated_at             INTEGER NOT NULL,
  PRIMARY KEY (station_id, model)
);
CREATE INDEX station_models_by_org ON station_models (organization_id, model);

-- The route table's rows: one per (client-facing model, upstream key) — a channel.
CREATE TABLE route_entries (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  model           TEXT    NOT NULL,                        -- what clients ask for
  upstream_model  TEXT    NOT NULL,                        -- what the station is sent
  station_id      INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  upstream_key_id INTEGER NOT NULL REFERENCES upstream_keys (id) ON DELETE CASCADE,
  priority        INTEGER NOT NULL DEFAULT 0,
  weight          INTEGER NOT NULL DEFAULT 10,
  enabled         INTEGER NOT NULL DEFAULT 1,
  manual          INTEGER NOT NULL DEFAULT 0,              -- edited by an admin: sync keeps its settings
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (organization_id, model, upstream_key_id)
);
CREATE INDEX route_entries_by_station ON route_entries (station_id);

-- ag- keys of users: only the SHA-256 of the key is kept.
CREATE TABLE gateway_keys (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,  -- NULL: created with the admin token
  name            TEXT    NOT NULL DEFAULT '',
  key_hash        TEXT    NOT NULL UNIQUE,
  key_hint        TEXT    NOT NULL,
  enabled         INTEGER NOT NULL DEFAULT 1,
  expires_at      INTEGER,
  allowed_models  TEXT    NOT NULL DEFAULT '[]',           -- JSON array; exact names or * wildcards; [] = all
  allowed_ips     TEXT    NOT NULL DEFAULT '[]',           -- JSON array of CIDRs; [] = any
  request_limit   INTEGER,
  cost_limit_usd  REAL,
  used_requests   INTEGER NOT NULL DEFAULT 0,
  used_cost_usd   REAL    NOT NULL DEFAULT 0,
  last_used_at    INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX gateway_keys_by_org ON gateway_keys (organization_id, user_id);

-- One row per relayed call, written after the response started (never before the first byte).
CREATE TABLE usage_logs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL,
  gateway_key_id    INTEGER,
  user_id           INTEGER,
  endpoint          TEXT    NOT NULL,
  model_requested   TEXT    NOT NULL DEFAULT '',
  model_sent        TEXT    NOT NULL DEFAULT '',
  station_id        INTEGER,
  route_entry_id    INTEGER,
  status            INTEGER NOT NULL,
  attempts          INTEGER NOT NULL DEFAULT 1,
  stream            INTEGER NOT NULL DEFAULT 0,
  latency_ms        INTEGER NOT NULL DEFAULT 0,
  ttfb_ms           INTEGER,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  cached_tokens     INTEGER,
  cost_usd          REAL,
  error_class       TEXT,
  created_at        INTEGER NOT NULL
);
CREATE INDEX usage_logs_by_org_time ON usage_logs (organization_id, created_at);
CREATE INDEX usage_logs_by_key_time ON usage_logs (gateway_key_id, created_at);

-- Daily roll-ups that the dashboard reads, so raw logs can be pruned after the retention period.
CREATE TABLE usage_daily (
  organization_id   INTEGER NOT NULL,
  day               TEXT    NOT NULL,                      -- YYYY-MM-DD (UTC)
  model             TEXT    NOT NULL,
  station_id        INTEGER NOT NULL DEFAULT 0,
  requests          INTEGER NOT NULL DEFAULT 0,
  errors            INTEGER NOT NULL DEFAULT 0,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd          REAL    NOT NULL DEFAULT 0,
  latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, day, model, station_id)
);

CREATE TABLE balance_snapshots (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL,
  account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  balance_usd     REAL,
  used_usd        REAL,
  estimated       INTEGER NOT NULL DEFAULT 0,
  taken_at        INTEGER NOT NULL
);
CREATE INDEX balance_snapshots_by_account ON balance_snapshots (organization_id, account_id, taken_at);

CREATE TABLE checkin_records (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL,
  account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  day             TEXT    NOT NULL,                        -- YYYY-MM-DD (UTC): at most one record a day
  outcome         TEXT    NOT NULL CHECK (outcome IN ('rewarded', 'already_done', 'failed', 'unsupported')),
  reward_usd      REAL,
  message         TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  UNIQUE (account_id, day)
);
CREATE INDEX checkin_records_by_org ON checkin_records (organization_id, day);

CREATE TABLE alert_channels (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  kind              TEXT    NOT NULL CHECK (kind IN ('webhook', 'bark', 'serverchan', 'telegram', 'email')),
  name              TEXT    NOT NULL DEFAULT '',
  config_ciphertext TEXT    NOT NULL,                      -- URLs and tokens are secrets too
  events            TEXT    NOT NULL DEFAULT '[]',
  enabled           INTEGER NOT NULL DEFAULT 1,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX alert_channels_by_org ON alert_channels (organization_id);

-- Organization settings (organization_id 0 = instance-wide).
CREATE TABLE settings (
  organization_id INTEGER NOT NULL,
  key             TEXT    NOT NULL,
  value           TEXT    NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, key)
);

-- Each run of a scheduled or on-demand job, with the cursor that lets the next run go on.
CREATE TABLE job_runs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER,                                 -- NULL: an instance-wide cron run
  job             TEXT    NOT NULL CHECK (job IN ('sync', 'balance', 'checkin')),
  trigger         TEXT    NOT NULL CHECK (trigger IN ('cron', 'manual')),
  started_at      INTEGER NOT NULL,
  finished_at     INTEGER,
  status          TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'partial', 'failed')),
  processed       INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  next_cursor     INTEGER,
  error           TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);
