//! Gateway keys (`gateway_keys`): the relay's lookup by hash, and the admin API's list, create,
//! edit and delete. Members reach only their own keys: the `KeyScope` is part of every query.

use crate::core::error::GatewayError;
use crate::core::gateway_key::{GatewayKeyRecord, KeyBounds};
use crate::shell::cache;
use crate::shell::db::{all, first, num, opt_f64, opt_num, opt_str, run, IdRow};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::D1Database;

/// A gateway key as stored, less its hash: the relay's record is made from it, and the admin
/// API shows it (hint only, without the organization).
#[derive(Serialize, Deserialize)]
pub struct GatewayKeyRow {
    id: i64,
    #[serde(skip_serializing)]
    organization_id: i64,
    user_id: Option<i64>,
    name: String,
    key_hint: String,
    enabled: i64,
    expires_at: Option<i64>,
    allowed_models: String,
    allowed_ips: String,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
    used_requests: i64,
    used_cost_usd: f64,
    last_used_at: Option<i64>,
    created_at: i64,
}

const KEY_COLUMNS: &str = "id, organization_id, user_id, name, key_hint, enabled, expires_at, allowed_models, allowed_ips, \
     request_limit, cost_limit_usd, used_requests, used_cost_usd, last_used_at, created_at";

/// The settings row that holds the organization's default bounds of a member's new key.
const KEY_DEFAULTS: &str = "key_defaults";

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

/// The bounds a member's new key starts from (an admin sets them; unset: unbounded).
pub async fn defaults(db: &D1Database, org: i64) -> Result<KeyBounds, GatewayError> {
    let row: Option<ValueRow> = first(
        db,
        "SELECT value FROM settings WHERE organization_id = ?1 AND key = ?2",
        &[num(org), KEY_DEFAULTS.into()],
    )
    .await?;
    Ok(row
        .and_then(|r| serde_json::from_str(&r.value).ok())
        .unwrap_or_else(KeyBounds::unbounded))
}

pub async fn set_defaults(
    db: &D1Database,
    org: i64,
    bounds: &KeyBounds,
    now: i64,
) -> Result<(), GatewayError> {
    let json = serde_json::to_string(bounds).map_err(|e| GatewayError::Internal(e.to_string()))?;
    run(
        db,
        "INSERT INTO settings (organization_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (organization_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[num(org), KEY_DEFAULTS.into(), json.into(), num(now)],
    )
    .await
}

#[derive(Deserialize)]
struct BoundsRow {
    enabled: i64,
    expires_at: Option<i64>,
    allowed_models: String,
    allowed_ips: String,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
}

/// The bounds of a key the scope reaches (`None`: no such key).
pub async fn bounds(
    db: &D1Database,
    scope: &KeyScope,
    id: i64,
) -> Result<Option<KeyBounds>, GatewayError> {
    let row: Option<BoundsRow> = first(
        db,
        "SELECT enabled, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd FROM gateway_keys \
         WHERE organization_id = ?1 AND id = ?2 AND (?3 = 1 OR user_id = ?4)",
        &[num(scope.org), num(id), num(i64::from(scope.all)), opt_num(scope.user_id)],
    )
    .await?;
    let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
    Ok(row.map(|r| KeyBounds {
        enabled: r.enabled != 0,
        expires_at: r.expires_at,
        models: list(&r.allowed_models),
        allowed_ips: list(&r.allowed_ips),
        request_limit: r.request_limit,
        cost_limit_usd: r.cost_limit_usd,
    }))
}

/// The key with this hash, with its usage as this isolate counts it.
pub async fn find(
    db: &D1Database,
    key_hash: &str,
) -> Result<Option<GatewayKeyRecord>, GatewayError> {
    let row: Option<GatewayKeyRow> = first(
        db,
        // A key of a disabled user stops with the user (within the key cache's TTL).
        &format!(
            "SELECT {KEY_COLUMNS} FROM (SELECT k.id, k.organization_id, k.user_id, k.name, k.key_hint, \
               CASE WHEN u.status = 'disabled' THEN 0 ELSE k.enabled END AS enabled, k.expires_at, k.allowed_models, \
               k.allowed_ips, k.request_limit, k.cost_limit_usd, k.used_requests, k.used_cost_usd, k.last_used_at, k.created_at \
             FROM gateway_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1)"
        ),
        &[key_hash.into()],
    )
    .await?;
    Ok(row.map(|r| GatewayKeyRecord {
        id: r.id,
        organization_id: r.organization_id,
        user_id: r.user_id,
        enabled: r.enabled != 0,
        expires_at: r.expires_at,
        allowed_models: serde_json::from_str(&r.allowed_models).unwrap_or_default(),
        allowed_ips: serde_json::from_str(&r.allowed_ips).unwrap_or_default(),
        request_limit: r.request_limit,
        cost_limit_usd: r.cost_limit_usd,
        usage: cache::key_usage(r.id, r.used_requests, r.used_cost_usd),
    }))
}

/// Whose keys a caller reaches: every key of the organization, or only a user's own.
pub struct KeyScope {
    pub org: i64,
    pub all: bool,
    pub user_id: Option<i64>,
}

impl KeyScope {
    /// Bound values of the "whose keys" filter: `?a = 1 OR user_id = ?b`.
    fn args(&self) -> (JsValue, JsValue) {
        (num(i64::from(self.all)), opt_num(self.user_id))
    }
}

/// A key's editable fields; the lists are JSON (None: unchanged on edit).
pub struct KeyFields<'a> {
    pub name: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub models_json: Option<String>,
    pub ips_json: Option<String>,
    pub request_limit: Option<i64>,
    pub cost_limit_usd: Option<f64>,
}

/// A minted key to store: its hash and hint, never the key.
pub struct NewKey<'a> {
    pub hash: &'a str,
    pub hint: &'a str,
}

/// Inserts the key for `user_id` while the organization has fewer than `max_keys` keys (the
/// count is part of the insert); None when the limit is reached.
pub async fn insert(
    db: &D1Database,
    (org, user_id): (i64, Option<i64>),
    key: NewKey<'_>,
    f: &KeyFields<'_>,
    max_keys: i64,
    now: i64,
) -> Result<Option<i64>, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO gateway_keys (organization_id, user_id, name, key_hash, key_hint, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11 WHERE (SELECT COUNT(*) FROM gateway_keys WHERE organization_id = ?1) < ?12 RETURNING id",
        &[num(org), opt_num(user_id), f.name.unwrap_or_default().into(), key.hash.into(), key.hint.into(), opt_num(f.expires_at),
          opt_str(f.models_json.as_deref()), opt_str(f.ips_json.as_deref()), opt_num(f.request_limit), opt_f64(f.cost_limit_usd), num(now), num(max_keys)],
    )
    .await?;
    Ok(row.map(|r| r.id))
}

pub async fn views(db: &D1Database, scope: &KeyScope) -> Result<Vec<GatewayKeyRow>, GatewayError> {
    let (all_keys, user) = scope.args();
    all(
        db,
        &format!("SELECT {KEY_COLUMNS} FROM gateway_keys WHERE organization_id = ?1 AND (?2 = 1 OR user_id = ?3) ORDER BY id"),
        &[num(scope.org), all_keys, user],
    )
    .await
}

#[derive(Deserialize)]
struct HashRow {
    key_hash: String,
}

/// Applies an edit (absent fields unchanged); returns the key's hash, None when out of scope.
pub async fn update(
    db: &D1Database,
    scope: &KeyScope,
    id: i64,
    (f, enabled): (&KeyFields<'_>, Option<bool>),
    now: i64,
) -> Result<Option<String>, GatewayError> {
    let (all_keys, user) = scope.args();
    let row: Option<HashRow> = first(
        db,
        "UPDATE gateway_keys SET name = COALESCE(?1, name), expires_at = COALESCE(?2, expires_at), allowed_models = COALESCE(?3, allowed_models), \
         allowed_ips = COALESCE(?4, allowed_ips), request_limit = COALESCE(?5, request_limit), cost_limit_usd = COALESCE(?6, cost_limit_usd), \
         enabled = COALESCE(?7, enabled), updated_at = ?8 \
         WHERE organization_id = ?9 AND id = ?10 AND (?11 = 1 OR user_id = ?12) RETURNING key_hash",
        &[opt_str(f.name), opt_num(f.expires_at), opt_str(f.models_json.as_deref()), opt_str(f.ips_json.as_deref()),
          opt_num(f.request_limit), opt_f64(f.cost_limit_usd), opt_num(enabled.map(i64::from)), num(now),
          num(scope.org), num(id), all_keys, user],
    )
    .await?;
    Ok(row.map(|r| r.key_hash))
}

/// Deletes the key; returns its hash, None when out of scope.
pub async fn delete(
    db: &D1Database,
    scope: &KeyScope,
    id: i64,
) -> Result<Option<String>, GatewayError> {
    let (all_keys, user) = scope.args();
    let row: Option<HashRow> = first(
        db,
        "DELETE FROM gateway_keys WHERE organization_id = ?1 AND id = ?2 AND (?3 = 1 OR user_id = ?4) RETURNING key_hash",
        &[num(scope.org), num(id), all_keys, user],
    )
    .await?;
    Ok(row.map(|r| r.key_hash))
}

/// A key's cost limit, spend and expiry (the billing endpoints' figures).
#[derive(Deserialize)]
pub struct KeyTotals {
    pub cost_limit_usd: Option<f64>,
    pub used_cost_usd: f64,
    pub expires_at: Option<i64>,
}

pub async fn totals(db: &D1Database, org: i64, id: i64) -> Result<Option<KeyTotals>, GatewayError> {
    first(
        db,
        "SELECT cost_limit_usd, used_cost_usd, expires_at FROM gateway_keys WHERE id = ?1 AND organization_id = ?2",
        &[num(id), num(org)],
    )
    .await
}
