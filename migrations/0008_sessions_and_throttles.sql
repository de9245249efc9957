-- Security hardening (issue 14): revocable sessions and throttles with backoff.
--
-- A session is one sign-in: a refresh-token family. Only the family's latest refresh token
-- (`refresh_jti`) may be used; presenting an older one is a replay and revokes the family.
-- `users.token_version` is in every token: a password change or a disabled user bumps it and
-- so ends every session at its next use (each authenticated call checks it).
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sessions (
  id           TEXT    PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  refresh_jti  TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Throttles, now per (email, client IP) and per IP for sign-in (a victim's own IP is never
-- locked by someone else's failures), per user for password changes and per IP for
-- registrations. Over the limit a lock starts that doubles with every strike (`strikes`,
-- forgotten a day after the last lock). Counts from before this migration are dropped.
DROP TABLE login_attempts;
CREATE TABLE login_attempts (
  scope        TEXT    NOT NULL CHECK (scope IN ('email_ip', 'ip', 'password', 'register')),
  subject      TEXT    NOT NULL,
  window_start INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0,
  strikes      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, subject)
);
CREATE INDEX login_attempts_by_window ON login_attempts (window_start);
