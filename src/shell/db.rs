//! D1 repositories: bound parameters only, and every tenant-scoped statement filters by
//! `organization_id`. Rows are read into `Deserialize` structs.

use crate::core::error::GatewayError;
use crate::core::gateway_key::GatewayKeyRecord;
use crate::core::routing::RouteRow;
use crate::core::station::NewStation;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// D1 binds JS numbers; i64 ids and millisecond times fit a double exactly.
pub fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub fn opt_num(n: Option<i64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

pub fn opt_str(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from)
}

pub fn opt_f64(n: Option<f64>) -> JsValue {
    n.map_or(JsValue::NULL, JsValue::from_f64)
}

pub fn stmt(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<D1PreparedStatement, GatewayError> {
    Ok(db.prepare(sql).bind(args)?)
}

pub async fn first<T: for<'de> Deserialize<'de>>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Option<T>, GatewayError> {
    Ok(stmt(db, sql, args)?.first::<T>(None).await?)
}

pub async fn all<T: for<'de> Deserialize<'de>>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Vec<T>, GatewayError> {
    Ok(stmt(db, sql, args)?.all().await?.results::<T>()?)
}

pub async fn run(db: &D1Database, sql: &str, args: &[JsValue]) -> Result<(), GatewayError> {
    stmt(db, sql, args)?.run().await?;
    Ok(())
}

pub async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<(), GatewayError> {
    if !statements.is_empty() {
        db.batch(statements).await?;
    }
    Ok(())
}

/// A row of just an id (`RETURNING id`, id lists).
#[derive(Debug, Deserialize)]
pub struct IdRow {
    pub id: i64,
}

/// A station as the admin API shows it (no credential, ever).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StationView {
    pub id: i64,
    pub name: String,
    pub platform: String,
    pub base_url: String,
    pub weight: i64,
    pub priority: i64,
    pub enabled: i64,
    pub checkin_enabled: i64,
    pub quota_per_unit: Option<f64>,
    pub last_synced_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const STATION_COLUMNS: &str =
    "id, name, platform, base_url, weight, priority, enabled, checkin_enabled, \
     quota_per_unit, last_synced_at, last_sync_error, created_at, updated_at";

pub async fn list_stations(db: &D1Database, org: i64) -> Result<Vec<StationView>, GatewayError> {
    all(
        db,
        &format!("SELECT {STATION_COLUMNS} FROM stations WHERE organization_id = ?1 ORDER BY id"),
        &[num(org)],
    )
    .await
}

pub async fn get_station(
    db: &D1Database,
    org: i64,
    id: i64,
) -> Result<Option<StationView>, GatewayError> {
    first(
        db,
        &format!("SELECT {STATION_COLUMNS} FROM stations WHERE organization_id = ?1 AND id = ?2"),
        &[num(org), num(id)],
    )
    .await
}

/// Inserts the station and its first account (credential already sealed); returns the station id.
pub async fn insert_station(
    db: &D1Database,
    org: i64,
    s: &NewStation,
    sealed_credential: &str,
    now: i64,
) -> Result<i64, GatewayError> {
    let existing: Option<IdRow> = first(
        db,
        "SELECT id FROM stations WHERE organization_id = ?1 AND name = ?2",
        &[num(org), s.name.as_str().into()],
    )
    .await?;
    if existing.is_some() {
        return Err(GatewayError::Conflict(format!(
            "a station named `{}` already exists",
            s.name
        )));
    }
    let station: Option<IdRow> = first(
        db,
        "INSERT INTO stations (organization_id, name, platform, base_url, weight, priority, checkin_enabled, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
        &[num(org), s.name.as_str().into(), s.platform.as_str().into(), s.base_url.as_str().into(), num(s.weight), num(s.priority), num(i64::from(s.checkin_enabled)), num(now)],
    )
    .await?;
    let station_id = station
        .ok_or_else(|| GatewayError::Internal("station insert returned no id".into()))?
        .id;
    run(
        db,
        "INSERT INTO accounts (organization_id, station_id, name, credential_kind, credential_ciphertext, panel_user_id, checkin_enabled, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'access_token', ?4, ?5, ?6, ?7, ?7)",
        &[num(org), num(station_id), s.name.as_str().into(), sealed_credential.into(), s.panel_user_id.as_str().into(), num(i64::from(s.checkin_enabled)), num(now)],
    )
    .await?;
    Ok(station_id)
}

/// The station's account, with its credential still sealed.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub credential_ciphertext: String,
    pub panel_user_id: Option<String>,
    pub enabled: i64,
}

pub async fn station_accounts(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<AccountRow>, GatewayError> {
    all(
        db,
        "SELECT id, credential_ciphertext, panel_user_id, enabled FROM accounts \
         WHERE organization_id = ?1 AND station_id = ?2 ORDER BY id",
        &[num(org), num(station_id)],
    )
    .await
}

/// Enabled route entries whose station, account and key are usable: the route table's source.
pub async fn route_rows(db: &D1Database, org: i64) -> Result<Vec<RouteRow>, GatewayError> {
    all(
        db,
        "SELECT r.id, r.model, r.upstream_model, r.station_id, r.upstream_key_id, s.base_url, r.priority, r.weight, k.key_ciphertext, \
                m.input_usd_per_mtok, m.output_usd_per_mtok, m.cache_read_usd_per_mtok, \
                CASE WHEN m.billing = 'per_call' THEN m.usd_per_call END AS usd_per_call \
         FROM route_entries r \
         JOIN stations s ON s.id = r.station_id AND s.organization_id = r.organization_id \
         JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = r.organization_id \
         JOIN accounts a ON a.id = k.account_id AND a.organization_id = r.organization_id \
         LEFT JOIN station_models m ON m.station_id = r.station_id AND m.model = r.upstream_model AND m.organization_id = r.organization_id \
         WHERE r.organization_id = ?1 AND r.enabled = 1 AND s.enabled = 1 AND a.enabled = 1 AND k.status = 'active' \
         ORDER BY r.model, r.id",
        &[num(org)],
    )
    .await
}

#[derive(Deserialize)]
struct GatewayKeyRow {
    id: i64,
    organization_id: i64,
    user_id: Option<i64>,
    enabled: i64,
    expires_at: Option<i64>,
    allowed_models: String,
    allowed_ips: String,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
    used_requests: i64,
    used_cost_usd: f64,
}

pub async fn find_gateway_key(
    db: &D1Database,
    key_hash: &str,
) -> Result<Option<GatewayKeyRecord>, GatewayError> {
    let row: Option<GatewayKeyRow> = first(
        db,
        "SELECT id, organization_id, user_id, enabled, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, used_requests, used_cost_usd \
         FROM gateway_keys WHERE key_hash = ?1",
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
        used_requests: r.used_requests,
        used_cost_usd: r.used_cost_usd,
    }))
}
