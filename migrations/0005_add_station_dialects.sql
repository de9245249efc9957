-- Format conversion (issue 4): a station may override which dialects it serves natively and
-- under which path prefix. JSON text, a list of {"dialect", "prefix"} validated by the admin API
-- (core::panels::relay_paths::parse_override); NULL means the platform's defaults.
ALTER TABLE stations ADD COLUMN dialects TEXT;
