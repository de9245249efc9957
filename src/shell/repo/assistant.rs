//! The assistant's tables (`comfy_servers`, `assistant_templates`, `assistant_conversations`,
//! `assistant_messages`, `assistant_runs`). Every statement filters by organization, and
//! conversations (with their runs) also by their user.

use crate::core::comfy::server::NewServer;
use crate::core::error::GatewayError;
use crate::shell::db::{all, first, num, opt_str, run, IdRow};
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// A server as the API shows it: the auth header's name, never its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerView {
    pub id: i64,
    pub name: String,
    pub base_url: String,
    pub auth_header: Option<String>,
    pub status: String,
    pub last_error: Option<String>,
    #[serde(deserialize_with = "json_text", serialize_with = "raw_json")]
    pub system_stats: Option<serde_json::Value>,
    #[serde(deserialize_with = "json_text", serialize_with = "raw_json")]
    pub catalog: Option<serde_json::Value>,
    pub checked_at: Option<i64>,
    pub created_at: i64,
}

/// The sealed header value of a server (for the shell's client only).
#[derive(Debug, Deserialize)]
pub struct ServerSecret {
    pub auth_header: Option<String>,
    pub auth_ciphertext: Option<String>,
}

fn json_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn raw_json<S: serde::Serializer>(v: &Option<serde_json::Value>, s: S) -> Result<S::Ok, S::Error> {
    v.serialize(s)
}

const SERVER_COLUMNS: &str = "id, name, base_url, auth_header, status, last_error, system_stats, \
                              catalog, checked_at, created_at";

pub async fn servers(db: &D1Database, org: i64) -> Result<Vec<ServerView>, GatewayError> {
    let sql = format!(
        "SELECT {SERVER_COLUMNS} FROM comfy_servers WHERE organization_id = ?1 ORDER BY id"
    );
    all(db, &sql, &[num(org)]).await
}

pub async fn server(db: &D1Database, org: i64, id: i64) -> Result<ServerView, GatewayError> {
    let sql = format!(
        "SELECT {SERVER_COLUMNS} FROM comfy_servers WHERE organization_id = ?1 AND id = ?2"
    );
    first(db, &sql, &[num(org), num(id)])
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("ComfyUI server {id} not found")))
}

pub async fn server_secret(
    db: &D1Database,
    org: i64,
    id: i64,
) -> Result<ServerSecret, GatewayError> {
    first(
        db,
        "SELECT auth_header, auth_ciphertext FROM comfy_servers WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await?
    .ok_or_else(|| GatewayError::NotFound(format!("ComfyUI server {id} not found")))
}

pub async fn insert_server(
    db: &D1Database,
    org: i64,
    s: &NewServer,
    sealed_value: Option<&str>,
    now: i64,
) -> Result<i64, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO comfy_servers (organization_id, name, base_url, auth_header, auth_ciphertext, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        &[num(org), s.name.as_str().into(), s.base_url.as_str().into(),
          opt_str(s.auth.as_ref().map(|(h, _)| h.as_str())), opt_str(sealed_value), num(now)],
    )
    .await?;
    Ok(row
        .ok_or_else(|| GatewayError::Internal("server insert returned no id".into()))?
        .id)
}

pub async fn delete_server(db: &D1Database, org: i64, id: i64) -> Result<(), GatewayError> {
    server(db, org, id).await?;
    run(
        db,
        "DELETE FROM comfy_servers WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await
}

/// The result of a health check: `ok` with the stats and catalogue, or `unreachable` with why.
pub async fn record_check(
    db: &D1Database,
    org: i64,
    id: i64,
    outcome: Result<(&str, &str), &str>,
    now: i64,
) -> Result<(), GatewayError> {
    let (status, error, stats, catalog) = match outcome {
        Ok((stats, catalog)) => ("ok", None, Some(stats), Some(catalog)),
        Err(e) => ("unreachable", Some(e), None, None),
    };
    run(
        db,
        "UPDATE comfy_servers SET status = ?3, last_error = ?4, system_stats = COALESCE(?5, system_stats), \
         catalog = COALESCE(?6, catalog), checked_at = ?7, updated_at = ?7 WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id), status.into(), opt_str(error), opt_str(stats), opt_str(catalog), num(now)],
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct TemplateRow {
    pub definition: String,
}

pub async fn templates(db: &D1Database, org: i64) -> Result<Vec<TemplateRow>, GatewayError> {
    all(
        db,
        "SELECT definition FROM assistant_templates WHERE organization_id = ?1 ORDER BY id",
        &[num(org)],
    )
    .await
}

pub async fn insert_template(
    db: &D1Database,
    org: i64,
    template_id: &str,
    definition: &str,
    user: i64,
    now: i64,
) -> Result<(), GatewayError> {
    let taken: Option<IdRow> = first(
        db,
        "SELECT id FROM assistant_templates WHERE organization_id = ?1 AND template_id = ?2",
        &[num(org), template_id.into()],
    )
    .await?;
    if taken.is_some() {
        return Err(GatewayError::Conflict(format!(
            "a template `{template_id}` already exists"
        )));
    }
    run(
        db,
        "INSERT INTO assistant_templates (organization_id, template_id, definition, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[num(org), template_id.into(), definition.into(), num(user), num(now)],
    )
    .await
}

pub async fn delete_template(
    db: &D1Database,
    org: i64,
    template_id: &str,
) -> Result<(), GatewayError> {
    run(
        db,
        "DELETE FROM assistant_templates WHERE organization_id = ?1 AND template_id = ?2",
        &[num(org), template_id.into()],
    )
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub id: i64,
    pub server_id: Option<i64>,
    pub client_id: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const CONVERSATION_COLUMNS: &str = "id, server_id, client_id, title, created_at, updated_at";

pub async fn create_conversation(
    db: &D1Database,
    org: i64,
    user: i64,
    server_id: Option<i64>,
    client_id: &str,
    title: &str,
    now: i64,
) -> Result<Conversation, GatewayError> {
    let sql = format!(
        "INSERT INTO assistant_conversations (organization_id, user_id, server_id, client_id, title, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {CONVERSATION_COLUMNS}"
    );
    first(
        db,
        &sql,
        &[
            num(org),
            num(user),
            server_id.map_or(wasm_bindgen::JsValue::NULL, num),
            client_id.into(),
            title.into(),
            num(now),
        ],
    )
    .await?
    .ok_or_else(|| GatewayError::Internal("conversation insert returned nothing".into()))
}

pub async fn conversations(
    db: &D1Database,
    org: i64,
    user: i64,
) -> Result<Vec<Conversation>, GatewayError> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM assistant_conversations WHERE organization_id = ?1 AND user_id = ?2 ORDER BY updated_at DESC"
    );
    all(db, &sql, &[num(org), num(user)]).await
}

/// The user's conversation, or a 404 (also for another user's or organization's).
pub async fn conversation(
    db: &D1Database,
    org: i64,
    user: i64,
    id: i64,
) -> Result<Conversation, GatewayError> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM assistant_conversations WHERE organization_id = ?1 AND user_id = ?2 AND id = ?3"
    );
    first(db, &sql, &[num(org), num(user), num(id)])
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("conversation {id} not found")))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub role: String,
    pub content: String,
    pub created_at: i64,
}

pub async fn add_message(
    db: &D1Database,
    org: i64,
    conversation: i64,
    role: &str,
    content: &str,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "INSERT INTO assistant_messages (organization_id, conversation_id, role, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[num(org), num(conversation), role.into(), content.into(), num(now)],
    )
    .await?;
    run(
        db,
        "UPDATE assistant_conversations SET updated_at = ?3 WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(conversation), num(now)],
    )
    .await
}

pub async fn messages(
    db: &D1Database,
    org: i64,
    conversation: i64,
) -> Result<Vec<Message>, GatewayError> {
    all(
        db,
        "SELECT id, role, content, created_at FROM assistant_messages WHERE organization_id = ?1 AND conversation_id = ?2 ORDER BY id",
        &[num(org), num(conversation)],
    )
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub conversation_id: i64,
    pub server_id: i64,
    pub template_id: String,
    pub label: Option<String>,
    #[serde(deserialize_with = "json_text", serialize_with = "raw_json")]
    pub params: Option<serde_json::Value>,
    #[serde(deserialize_with = "json_text", serialize_with = "raw_json")]
    pub graph: Option<serde_json::Value>,
    pub prompt_id: Option<String>,
    pub status: String,
    pub error: Option<String>,
    #[serde(deserialize_with = "json_text", serialize_with = "raw_json")]
    pub outputs: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

const RUN_COLUMNS: &str =
    "r.id, r.conversation_id, r.server_id, r.template_id, r.label, r.params, r.graph, \
                           r.prompt_id, r.status, r.error, r.outputs, r.created_at, r.updated_at";

/// A run to store once ComfyUI accepted its prompt.
pub struct NewRun<'a> {
    pub conversation_id: i64,
    pub server_id: i64,
    pub template_id: &'a str,
    pub label: Option<&'a str>,
    pub params: &'a str,
    pub graph: &'a str,
    pub prompt_id: &'a str,
}

pub async fn insert_run(
    db: &D1Database,
    org: i64,
    r: &NewRun<'_>,
    now: i64,
) -> Result<i64, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO assistant_runs (organization_id, conversation_id, server_id, template_id, label, params, graph, prompt_id, status, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?9) RETURNING id",
        &[num(org), num(r.conversation_id), num(r.server_id), r.template_id.into(), opt_str(r.label),
          r.params.into(), r.graph.into(), r.prompt_id.into(), num(now)],
    )
    .await?;
    Ok(row
        .ok_or_else(|| GatewayError::Internal("run insert returned no id".into()))?
        .id)
}

/// A run's end (or start: `running`), with its outputs or error.
pub async fn finish_run(
    db: &D1Database,
    org: i64,
    id: i64,
    status: &str,
    error: Option<&str>,
    outputs: Option<&str>,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE assistant_runs SET status = ?3, error = ?4, outputs = COALESCE(?5, outputs), updated_at = ?6 \
         WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id), status.into(), opt_str(error), opt_str(outputs), num(now)],
    )
    .await
}

pub async fn runs_of(
    db: &D1Database,
    org: i64,
    conversation: i64,
) -> Result<Vec<Run>, GatewayError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM assistant_runs r WHERE r.organization_id = ?1 AND r.conversation_id = ?2 ORDER BY r.id");
    all(db, &sql, &[num(org), num(conversation)]).await
}

/// The user's run (through its conversation), or a 404.
pub async fn run_of_user(
    db: &D1Database,
    org: i64,
    user: i64,
    id: i64,
) -> Result<Run, GatewayError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM assistant_runs r JOIN assistant_conversations c ON c.id = r.conversation_id \
         WHERE r.organization_id = ?1 AND c.organization_id = ?1 AND c.user_id = ?2 AND r.id = ?3"
    );
    first(db, &sql, &[num(org), num(user), num(id)])
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("run {id} not found")))
}

/// An organization setting of the assistant (`settings` table), e.g. `assistant.enabled`.
pub async fn setting(db: &D1Database, org: i64, key: &str) -> Result<Option<String>, GatewayError> {
    #[derive(Deserialize)]
    struct Row {
        value: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT value FROM settings WHERE organization_id = ?1 AND key = ?2",
        &[num(org), key.into()],
    )
    .await?;
    Ok(row.map(|r| r.value))
}

pub async fn set_setting(
    db: &D1Database,
    org: i64,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "INSERT INTO settings (organization_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (organization_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[num(org), key.into(), value.into(), num(now)],
    )
    .await
}
