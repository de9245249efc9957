-- Format conversion (issue 4): a station may override which dialects it serves natively and
-- under which path prefix. JSON text, a list of {"dialect", "prefix"} validated by the admin API
-- (core::panels::relay_paths::parse_override); NULL means the platform's defaults.
-- 0001 reserved `dialects` as NOT NULL DEFAULT '["openai"]', never read: replaced by the
-- nullable column, so every existing station keeps its platform's defaults.
ALTER TABLE stations DROP COLUMN dialects;
ALTER TABLE stations ADD COLUMN dialects TEXT;
