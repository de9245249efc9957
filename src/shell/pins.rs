//! Pinned resources: files, video tasks and stored responses live on the upstream that
//! created them, so later calls about them go to that same station and key.

use super::db::{self, num};
use crate::core::endpoint::PinKind;
use crate::core::error::GatewayError;
use crate::core::panels::relay_paths::{deserialize_override, DialectRoute};
use crate::core::routing::Channel;
use crate::core::usage::Pricing;
use serde::Deserialize;
use serde_json::Value;
use worker::Env;

#[allow(clippy::too_many_arguments)]
pub async fn store(
    env: &Env,
    org: i64,
    kind: PinKind,
    external_id: &str,
    station_id: i64,
    upstream_key_id: i64,
    gateway_key_id: i64,
    object: &Value,
) -> Result<(), GatewayError> {
    db::run(
        &env.d1("DB")?,
        "INSERT INTO pinned_resources (organization_id, kind, external_id, station_id, upstream_key_id, gateway_key_id, meta, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (organization_id, kind, external_id) DO UPDATE SET meta = excluded.meta",
        &[num(org), kind.as_str().into(), external_id.into(), num(station_id), num(upstream_key_id),
          db::opt_num((gateway_key_id > 0).then_some(gateway_key_id)), object.to_string().into(), num(super::app::now_ms())],
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
}

/// The channel a resource was created on, if it was created through this gateway by `org`.
pub async fn find(
    env: &Env,
    org: i64,
    kind: PinKind,
    external_id: &str,
) -> Result<Option<Channel>, GatewayError> {
    let row: Option<PinnedRow> = db::first(
        &env.d1("DB")?,
        "SELECT p.station_id, p.upstream_key_id, s.base_url, s.platform, s.dialects, k.key_ciphertext FROM pinned_resources p \
         JOIN stations s ON s.id = p.station_id AND s.organization_id = p.organization_id \
         JOIN upstream_keys k ON k.id = p.upstream_key_id AND k.organization_id = p.organization_id \
         WHERE p.organization_id = ?1 AND p.kind = ?2 AND p.external_id = ?3",
        &[num(org), kind.as_str().into(), external_id.into()],
    )
    .await?;
    Ok(row.map(|r| Channel {
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

/// The upstream objects of the organization's pinned resources of one kind, newest first.
pub async fn list(env: &Env, org: i64, kind: PinKind) -> Result<Vec<Value>, GatewayError> {
    let rows: Vec<MetaRow> = db::all(
        &env.d1("DB")?,
        "SELECT meta FROM pinned_resources WHERE organization_id = ?1 AND kind = ?2 ORDER BY created_at DESC LIMIT 10000",
        &[num(org), kind.as_str().into()],
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.meta).ok())
        .collect())
}
