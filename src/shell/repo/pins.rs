//! Pinned resources (`pinned_resources`): files, video tasks and stored responses live on the
//! upstream that created them, so later calls about them go to that same station and key. Each belongs to
//! its caller: the gateway key that created it, or that key's user (any of the user's keys);
//! organization admins see all of them through the admin API.

use crate::core::endpoint::PinKind;
use crate::core::error::GatewayError;
use crate::core::panels::relay_paths::{deserialize_override, DialectRoute};
use crate::core::routing::Channel;
use crate::core::usage::Pricing;
use crate::shell::app::now_ms;
use crate::shell::db::{self, num};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::Env;

/// Who calls: the gateway key (0 for the instance-wide `PROXY_TOKEN`) and its user, if any.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub org: i64,
    pub gateway_key_id: i64,
    pub user_id: Option<i64>,
}

impl Owner {
    /// The owner filter's parameters: ?… = key id (NULL for `PROXY_TOKEN`), ?… = user id.
    fn params(self) -> [JsValue; 2] {
        [
            db::opt_num((self.gateway_key_id > 0).then_some(self.gateway_key_id)),
            db::opt_num(self.user_id),
        ]
    }
}

/// The condition for rows the owner may reach — created with the same key, or by the same
/// user — with the owner's parameters at positions `key` and `user`.
fn owned(key: u8, user: u8) -> String {
    format!("(p.gateway_key_id IS ?{key} OR (?{user} IS NOT NULL AND p.user_id = ?{user}))")
}

pub async fn store(
    env: &Env,
    owner: Owner,
    kind: PinKind,
    external_id: &str,
    (station_id, upstream_key_id): (i64, i64),
    object: &Value,
) -> Result<(), GatewayError> {
    let [key, user] = owner.params();
    db::run(
        &env.d1("DB")?,
        "INSERT INTO pinned_resources (organization_id, kind, external_id, station_id, upstream_key_id, gateway_key_id, user_id, meta, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (organization_id, kind, external_id) DO UPDATE SET meta = excluded.meta",
        &[num(owner.org), kind.as_str().into(), external_id.into(), num(station_id), num(upstream_key_id),
          key, user, object.to_string().into(), num(now_ms())],
    )
    .await
}

#[derive(Deserialize)]
struct PinnedRow {
    station_id: i64,
    upstream_key_id: i64,
    base_url: String,
    platform: String,
    #[serde(default, deserialize_with = "deserialize_override")]
    dialects: Option<Vec<DialectRoute>>,
    key_ciphertext: String,
    station_enabled: i64,
    account_enabled: i64,
    key_status: String,
}

/// The channel a resource was created on, if `owner` created it through this gateway. A
/// resource whose station, account or key has been switched off is a 409: the call would
/// otherwise go, silently, through a channel the admin stopped.
pub async fn find(
    env: &Env,
    owner: Owner,
    kind: PinKind,
    external_id: &str,
) -> Result<Option<Channel>, GatewayError> {
    let [key, user] = owner.params();
    let row: Option<PinnedRow> = db::first(
        &env.d1("DB")?,
        &format!(
            "SELECT p.station_id, p.upstream_key_id, s.base_url, s.platform, s.dialects, k.key_ciphertext, \
                    s.enabled AS station_enabled, a.enabled AS account_enabled, k.status AS key_status \
             FROM pinned_resources p \
             JOIN stations s ON s.id = p.station_id AND s.organization_id = p.organization_id \
             JOIN upstream_keys k ON k.id = p.upstream_key_id AND k.organization_id = p.organization_id \
             JOIN accounts a ON a.id = k.account_id AND a.organization_id = p.organization_id \
             WHERE p.organization_id = ?1 AND p.kind = ?2 AND p.external_id = ?3 AND {}",
            owned(4, 5)
        ),
        &[num(owner.org), kind.as_str().into(), external_id.into(), key, user],
    )
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let off = if r.station_enabled == 0 {
        Some("its station is disabled")
    } else if r.account_enabled == 0 {
        Some("its station account is disabled")
    } else if r.key_status != "active" {
        Some("the upstream key it was created with is no longer active")
    } else {
        None
    };
    if let Some(why) = off {
        return Err(GatewayError::Conflict(format!(
            "{} `{external_id}` cannot be reached: {why}",
            kind.as_str()
        )));
    }
    Ok(Some(r).map(|r| Channel {
        id: 0,
        station_id: r.station_id,
        upstream_key_id: r.upstream_key_id,
        base_url: r.base_url,
        upstream_model: String::new(),
        priority: 0,
        weight: 0,
        key_ciphertext: r.key_ciphertext,
        pricing: Pricing::default(),
        platform: r.platform,
        dialects: r.dialects,
        gaps: Vec::new(),
    }))
}

pub async fn remove(
    env: &Env,
    org: i64,
    kind: PinKind,
    external_id: &str,
) -> Result<(), GatewayError> {
    db::run(
        &env.d1("DB")?,
        "DELETE FROM pinned_resources WHERE organization_id = ?1 AND kind = ?2 AND external_id = ?3",
        &[num(org), kind.as_str().into(), external_id.into()],
    )
    .await
}

#[derive(Deserialize)]
struct MetaRow {
    meta: String,
}

/// One pinned resource as organization admins see it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PinView {
    pub kind: String,
    pub external_id: String,
    pub station_id: i64,
    pub upstream_key_id: i64,
    pub gateway_key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub created_at: i64,
}

/// Every pinned resource of the organization (of one kind, if given), newest first.
pub async fn list_all(
    env: &Env,
    org: i64,
    kind: Option<&str>,
) -> Result<Vec<PinView>, GatewayError> {
    db::all(
        &env.d1("DB")?,
        "SELECT kind, external_id, station_id, upstream_key_id, gateway_key_id, user_id, created_at \
         FROM pinned_resources WHERE organization_id = ?1 AND (?2 IS NULL OR kind = ?2) \
         ORDER BY created_at DESC LIMIT 10000",
        &[num(org), db::opt_str(kind)],
    )
    .await
}

/// The upstream objects of the owner's pinned resources of one kind, newest first.
pub async fn list(env: &Env, owner: Owner, kind: PinKind) -> Result<Vec<Value>, GatewayError> {
    let [key, user] = owner.params();
    let rows: Vec<MetaRow> = db::all(
        &env.d1("DB")?,
        &format!(
            "SELECT p.meta FROM pinned_resources p WHERE p.organization_id = ?1 AND p.kind = ?2 AND {} \
             ORDER BY p.created_at DESC LIMIT 10000",
            owned(3, 4)
        ),
        &[num(owner.org), kind.as_str().into(), key, user],
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.meta).ok())
        .collect())
}
