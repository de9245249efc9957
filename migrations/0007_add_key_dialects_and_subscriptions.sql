-- Issue 18: stations as the real panels behave.
-- The dialects one upstream key serves natively when they differ from its station's platform
-- table (JSON text, a list of {"dialect", "prefix"} like stations.dialects), written by sync: a
-- Sub2API key serves what its group's platform does; a DoneHub key loses what its admin switched
-- off. NULL: the station's table. A station's own `dialects` override still wins.
ALTER TABLE upstream_keys ADD COLUMN dialects TEXT;
-- What an account's balance is (JSON, written by sync and the balance job): NULL for a wallet
-- balance; {"kind":"subscription","subscriptions":[…limits, usage, resets…]} or
-- {"kind":"unlimited"} for Sub2API subscription groups, whose balance_usd is then the smallest
-- remaining limit, or NULL when unlimited.
ALTER TABLE accounts ADD COLUMN subscription_json TEXT;
