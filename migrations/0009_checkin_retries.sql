-- Fair cron (issue 14): a failed check-in is retried later the same day, a bounded number of
-- times (the retry cron, see wrangler.toml), instead of its first failure being final.
ALTER TABLE checkin_records ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
