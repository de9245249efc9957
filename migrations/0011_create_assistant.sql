-- The ComfyUI chat assistant (issue 17): an organization's ComfyUI servers, its uploaded
-- workflow templates, and per user the conversations, their messages and the runs they queued.
-- Every row carries organization_id and every query filters by it; a server's auth header
-- value is AES-GCM ciphertext like station credentials.

CREATE TABLE comfy_servers (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name              TEXT    NOT NULL,
  base_url          TEXT    NOT NULL,
  auth_header       TEXT,              -- header name, e.g. X-API-Key (Comfy Cloud)
  auth_ciphertext   TEXT,              -- its sealed value
  status            TEXT    NOT NULL DEFAULT 'unchecked' CHECK (status IN ('unchecked', 'ok', 'unreachable')),
  last_error        TEXT,
  system_stats      TEXT,              -- JSON of /system_stats at the last check
  catalog           TEXT,              -- JSON: node classes and model files at the last check
  checked_at        INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX idx_comfy_servers_org ON comfy_servers(organization_id);

CREATE TABLE assistant_templates (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  template_id       TEXT    NOT NULL,
  definition        TEXT    NOT NULL,  -- JSON of core::comfy::template::Template
  created_by        INTEGER NOT NULL,
  created_at        INTEGER NOT NULL,
  UNIQUE (organization_id, template_id)
);

CREATE TABLE assistant_conversations (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id           INTEGER NOT NULL,  -- 0 for the instance admin token
  server_id         INTEGER,
  client_id         TEXT    NOT NULL,  -- ComfyUI client_id of every prompt this conversation queues
  title             TEXT    NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX idx_assistant_conversations_owner ON assistant_conversations(organization_id, user_id);

CREATE TABLE assistant_messages (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL,
  conversation_id   INTEGER NOT NULL REFERENCES assistant_conversations(id) ON DELETE CASCADE,
  role              TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
  content           TEXT    NOT NULL,
  created_at        INTEGER NOT NULL
);
CREATE INDEX idx_assistant_messages_conversation ON assistant_messages(organization_id, conversation_id);

CREATE TABLE assistant_runs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id   INTEGER NOT NULL,
  conversation_id   INTEGER NOT NULL REFERENCES assistant_conversations(id) ON DELETE CASCADE,
  server_id         INTEGER NOT NULL,
  template_id       TEXT    NOT NULL,
  label             TEXT,              -- the fan-out value (front/back/left/right)
  params            TEXT    NOT NULL,  -- JSON of the values used
  graph             TEXT    NOT NULL,  -- JSON of the queued API-format graph
  prompt_id         TEXT,
  status            TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'error', 'cancelled')),
  error             TEXT,
  outputs           TEXT,              -- JSON list of {filename, subfolder, type, kind}
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX idx_assistant_runs_conversation ON assistant_runs(organization_id, conversation_id);
