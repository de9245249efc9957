//! D1 repositories: bound parameters only, and every tenant-scoped statement filters by
//! `organization_id`. Rows are read into `Deserialize` structs.

use crate::core::error::GatewayError;
use crate::core::gateway_key::GatewayKeyRecord;
use crate::core::panels::relay_paths::{deserialize_override, stored_override, DialectRoute};
use crate::core::plans::{Limit, PlanLimits};
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

thread_local! {
    /// D1 statements prepared by this isolate, so a job can measure what it spent.
    static D1_STATEMENTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// D1 statements so far in this isolate (jobs take the difference over their run).
pub fn d1_statements() -> u32 {
    D1_STATEMENTS.with(std::cell::Cell::get)
}

pub fn stmt(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<D1PreparedStatement, GatewayError> {
    D1_STATEMENTS.with(|c| c.set(c.get().saturating_add(1)));
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

/// Prepares `(sql, args)` pairs and runs them as one atomic batch.
pub async fn batch_sql(
    db: &D1Database,
    statements: &[(&str, &[JsValue])],
) -> Result<(), GatewayError> {
    let prepared = statements
        .iter()
        .map(|(sql, args)| stmt(db, sql, args))
        .collect::<Result<Vec<_>, _>>()?;
    batch(db, prepared).await
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
    /// The dialect override (a list), or null for the platform's defaults.
    #[serde(default, deserialize_with = "deserialize_override")]
    pub dialects: Option<Vec<DialectRoute>>,
    pub quota_per_unit: Option<f64>,
    pub last_synced_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const STATION_COLUMNS: &str =
    "id, name, platform, base_url, weight, priority, enabled, checkin_enabled, dialects, \
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
    seal: &dyn Fn(i64) -> Result<String, GatewayError>,
    now: i64,
    limits: PlanLimits,
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
        "INSERT INTO stations (organization_id, name, platform, base_url, weight, priority, checkin_enabled, dialects, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9 WHERE (SELECT COUNT(*) FROM stations WHERE organization_id = ?1) < ?10 RETURNING id",
        &[num(org), s.name.as_str().into(), s.platform.as_str().into(), s.base_url.as_str().into(), num(s.weight), num(s.priority), num(i64::from(s.checkin_enabled)),
          opt_str(stored_override(s.dialects.as_deref())?.as_deref()), num(now), num(limits.stations)],
    )
    .await?;
    let station_id = station.ok_or_else(|| limits.exceeded(Limit::Stations))?.id;
    let account = NewAccount {
        name: &s.name,
        kind: s.credential.kind().as_str(),
        seal,
        panel_user_id: &s.panel_user_id,
        checkin_enabled: s.checkin_enabled,
    };
    if let Err(e) = insert_account(db, org, station_id, &account, now, limits).await {
        // Over the account limit: the station goes again, so no station is left without one.
        run(
            db,
            "DELETE FROM stations WHERE organization_id = ?1 AND id = ?2",
            &[num(org), num(station_id)],
        )
        .await?;
        return Err(e);
    }
    Ok(station_id)
}

/// An account to insert; `seal` seals the credential (JSON of `core::panels::credential::Credential`)
/// for the new row's id, which is known only after the insert.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub seal: &'a dyn Fn(i64) -> Result<String, GatewayError>,
    pub panel_user_id: &'a str,
    pub checkin_enabled: bool,
}

/// Inserts an account under a station; returns its id.
pub async fn insert_account(
    db: &D1Database,
    org: i64,
    station_id: i64,
    a: &NewAccount<'_>,
    now: i64,
    limits: PlanLimits,
) -> Result<i64, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO accounts (organization_id, station_id, name, credential_kind, credential_ciphertext, panel_user_id, checkin_enabled, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?7 WHERE (SELECT COUNT(*) FROM accounts WHERE organization_id = ?1) < ?8 RETURNING id",
        &[num(org), num(station_id), a.name.into(), a.kind.into(), a.panel_user_id.into(), num(i64::from(a.checkin_enabled)), num(now), num(limits.accounts)],
    )
    .await?;
    let id = row.ok_or_else(|| limits.exceeded(Limit::Accounts))?.id;
    run(
        db,
        "UPDATE accounts SET credential_ciphertext = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[(a.seal)(id)?.into(), num(org), num(id)],
    )
    .await?;
    Ok(id)
}

/// An account with its credential (and login session) still sealed.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub organization_id: i64,
    pub station_id: i64,
    pub credential_kind: String,
    pub credential_ciphertext: String,
    pub session_ciphertext: Option<String>,
    pub panel_user_id: Option<String>,
    pub enabled: i64,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub balance_updated_at: Option<i64>,
}

const ACCOUNT_ROW_COLUMNS: &str =
    "a.id, a.organization_id, a.station_id, a.credential_kind, a.credential_ciphertext, \
     a.session_ciphertext, a.panel_user_id, a.enabled, a.balance_usd, a.used_usd, a.balance_updated_at";

/// Every account of a station, enabled or not.
pub async fn station_accounts(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<AccountRow>, GatewayError> {
    all(
        db,
        &format!("SELECT {ACCOUNT_ROW_COLUMNS} FROM accounts a WHERE a.organization_id = ?1 AND a.station_id = ?2 ORDER BY a.id"),
        &[num(org), num(station_id)],
    )
    .await
}

/// Accounts a job may pick (enabled, on an enabled station), least recently processed first.
/// `cursor_sql` orders them; `filter_sql` narrows them (both constant SQL of the caller).
pub async fn due_accounts(
    db: &D1Database,
    org: Option<i64>,
    filter_sql: &str,
    cursor_sql: &str,
    day: &str,
    limit: i64,
) -> Result<Vec<AccountRow>, GatewayError> {
    all(
        db,
        &format!(
            // Organizations take turns, each one's least recently processed account first.
            "SELECT * FROM (SELECT {ACCOUNT_ROW_COLUMNS}, {cursor_sql} AS cursor, \
               ROW_NUMBER() OVER (PARTITION BY a.organization_id ORDER BY {cursor_sql}, a.id) AS turn \
             FROM accounts a JOIN stations s ON s.id = a.station_id AND s.organization_id = a.organization_id \
             WHERE a.enabled = 1 AND s.enabled = 1 AND (?1 IS NULL OR a.organization_id = ?1) AND ({filter_sql})) \
             ORDER BY turn, cursor, id LIMIT ?3"
        ),
        &[opt_num(org), day.into(), num(limit)],
    )
    .await
}

/// An account as the admin API shows it: never a credential, only its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountView {
    pub id: i64,
    pub station_id: i64,
    pub name: String,
    pub credential_kind: String,
    pub panel_user_id: Option<String>,
    pub health: String,
    pub health_reason: Option<String>,
    pub health_changed_at: Option<i64>,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub balance_updated_at: Option<i64>,
    pub panel_group: String,
    pub groups_json: String,
    pub checkin_enabled: i64,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The accounts of a station for the admin API.
pub async fn account_views(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<AccountView>, GatewayError> {
    all(
        db,
        "SELECT id, station_id, name, credential_kind, panel_user_id, health, health_reason, health_changed_at, balance_usd, used_usd, \
                balance_updated_at, panel_group, groups_json, checkin_enabled, enabled, created_at, updated_at \
         FROM accounts WHERE organization_id = ?1 AND station_id = ?2 ORDER BY id",
        &[num(org), num(station_id)],
    )
    .await
}

/// Sets an account's health; the change time moves only when the health itself changes.
pub async fn set_account_health(
    db: &D1Database,
    org: i64,
    account_id: i64,
    health: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE accounts SET health = ?1, health_reason = ?2, health_changed_at = CASE WHEN health = ?1 THEN health_changed_at ELSE ?3 END, updated_at = ?3 \
         WHERE organization_id = ?4 AND id = ?5",
        &[health.into(), reason.map_or(JsValue::NULL, Into::into), num(now), num(org), num(account_id)],
    )
    .await
}

/// Enabled route entries whose station, account and key are usable: the route table's source.
pub async fn route_rows(db: &D1Database, org: i64) -> Result<Vec<RouteRow>, GatewayError> {
    all(
        db,
        "SELECT r.id, r.model, r.upstream_model, r.station_id, r.upstream_key_id, s.base_url, s.platform, s.dialects, r.priority, r.weight, k.key_ciphertext, \
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
        // A key of a disabled user stops with the user (within the key cache's TTL).
        "SELECT k.id, k.organization_id, k.user_id, CASE WHEN u.status = 'disabled' THEN 0 ELSE k.enabled END AS enabled, k.expires_at, \
         k.allowed_models, k.allowed_ips, k.request_limit, k.cost_limit_usd, k.used_requests, k.used_cost_usd \
         FROM gateway_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
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
        usage: super::cache::key_usage(r.id, r.used_requests, r.used_cost_usd),
    }))
}
