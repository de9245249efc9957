-- Resources created on one upstream (files, video tasks, stored responses) must be reached on the
-- same channel later: the relay pins their ids here when the upstream creates them.
CREATE TABLE pinned_resources (
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  kind            TEXT    NOT NULL CHECK (kind IN ('file', 'video', 'response')),
  external_id     TEXT    NOT NULL,                        -- the id the upstream gave it
  station_id      INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  upstream_key_id INTEGER NOT NULL REFERENCES upstream_keys (id) ON DELETE CASCADE,
  gateway_key_id  INTEGER,
  meta            TEXT    NOT NULL DEFAULT '{}',           -- the upstream's object, for listings
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, kind, external_id)
);

-- Reasoning tokens are part of completion_tokens; kept apart for the dashboard.
ALTER TABLE usage_logs ADD COLUMN reasoning_tokens INTEGER;
-- Whether the client went away before the stream ended (the row still holds tokens seen so far).
ALTER TABLE usage_logs ADD COLUMN client_closed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX usage_logs_by_org_model_time ON usage_logs (organization_id, model_requested, created_at);
