-- Teams (issue 6): failed-login throttling and the indexes that membership and key lookups use.
-- Login attempts are counted in D1, not a Durable Object: logins are rare and off the relay's
-- hot path, a single UPSERT … RETURNING is atomic (D1 serialises writes), and the rows stay
-- inspectable. `subject` is the SHA-256 of the lower-cased email, or the client IP.
CREATE TABLE login_attempts (
  scope        TEXT    NOT NULL CHECK (scope IN ('email', 'ip')),
  subject      TEXT    NOT NULL,
  window_start INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  PRIMARY KEY (scope, subject)
);

CREATE INDEX invitations_by_email ON invitations (organization_id, email);
