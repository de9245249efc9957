-- Relay in the wild (issue 12). Dialect support learned per station: a call in a dialect the
-- station was assumed to serve answered "no such route", so the relay converts that dialect
-- for this station until `until_ms`, when the native route is tried again. An explicit
-- `stations.dialects` list wins over these facts. `evidence` is the station's answer (short).
CREATE TABLE station_dialect_gaps (
  organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  station_id      INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
  feature         TEXT    NOT NULL,                  -- a dialect name, or `<dialect>:count_tokens`
  learned_at      INTEGER NOT NULL,
  until_ms        INTEGER NOT NULL,
  evidence        TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (organization_id, station_id, feature)
);

-- Pinned resources belong to their caller: the user whose key created them (the key itself is
-- `gateway_key_id`), so that user's other keys reach them too.
ALTER TABLE pinned_resources ADD COLUMN user_id INTEGER;
CREATE INDEX pinned_resources_by_owner ON pinned_resources (organization_id, kind, gateway_key_id);
