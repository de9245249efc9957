-- Issue 5: every station kind synced, accounts with sessions and health, balance and check-in jobs.

-- The session a password login returned (AES-GCM sealed like the credential), reused until the
-- panel rejects it, then replaced by a fresh login.
ALTER TABLE accounts ADD COLUMN session_ciphertext TEXT;
-- The panel group the account's balance reports, and the groups it may use (JSON from sync).
ALTER TABLE accounts ADD COLUMN panel_group TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN groups_json TEXT NOT NULL DEFAULT '[]';
-- The balance job's cursor: least recently checked first, whether the panel answered or not.
ALTER TABLE accounts ADD COLUMN balance_checked_at INTEGER;
CREATE INDEX accounts_balance_cursor ON accounts (enabled, balance_checked_at);

-- The check-in job's cursor: least recently checked-in first.
CREATE INDEX checkin_records_by_account ON checkin_records (account_id, created_at);

-- Job runs per organization (cron runs write one row per organization they touched, plus one
-- instance-wide row with totals).
CREATE INDEX job_runs_by_org ON job_runs (organization_id, started_at);
