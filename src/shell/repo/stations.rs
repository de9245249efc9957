//! Stations and their model lists (`stations`, `station_models`): reads for the admin API and
//! the jobs, writes of admins and sync. Every statement filters by organization.

use super::accounts::{self, NewAccount};
use crate::core::error::GatewayError;
use crate::core::panels::relay_paths::{deserialize_override, stored_override, DialectRoute};
use crate::core::panels::ModelPrice;
use crate::core::plans::{Limit, PlanLimits};
use crate::core::station::{NewStation, StationSettings};
use crate::shell::db::{all, batch, first, num, opt_f64, opt_num, opt_str, run, stmt, IdRow};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

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

impl StationView {
    /// The settings an admin edits, as core validates them.
    pub fn settings(&self) -> StationSettings {
        StationSettings {
            name: self.name.clone(),
            base_url: self.base_url.clone(),
            weight: self.weight,
            priority: self.priority,
            enabled: self.enabled != 0,
            checkin_enabled: self.checkin_enabled != 0,
            dialects: self.dialects.clone(),
        }
    }
}

const STATION_COLUMNS: &str =
    "id, name, platform, base_url, weight, priority, enabled, checkin_enabled, dialects, \
     quota_per_unit, last_synced_at, last_sync_error, created_at, updated_at";

pub async fn list(db: &D1Database, org: i64) -> Result<Vec<StationView>, GatewayError> {
    all(
        db,
        &format!("SELECT {STATION_COLUMNS} FROM stations WHERE organization_id = ?1 ORDER BY id"),
        &[num(org)],
    )
    .await
}

pub async fn get(db: &D1Database, org: i64, id: i64) -> Result<Option<StationView>, GatewayError> {
    first(
        db,
        &format!("SELECT {STATION_COLUMNS} FROM stations WHERE organization_id = ?1 AND id = ?2"),
        &[num(org), num(id)],
    )
    .await
}

/// The station, or a 404 when the organization has no such station.
pub async fn require(db: &D1Database, org: i64, id: i64) -> Result<StationView, GatewayError> {
    get(db, org, id)
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("station {id} not found")))
}

/// A 409 when another station of the organization (not `except`) has this name.
async fn check_name_free(
    db: &D1Database,
    org: i64,
    name: &str,
    except: Option<i64>,
) -> Result<(), GatewayError> {
    let existing: Option<IdRow> = first(
        db,
        "SELECT id FROM stations WHERE organization_id = ?1 AND name = ?2 AND (?3 IS NULL OR id <> ?3)",
        &[num(org), name.into(), opt_num(except)],
    )
    .await?;
    match existing {
        Some(_) => Err(GatewayError::Conflict(format!(
            "a station named `{name}` already exists"
        ))),
        None => Ok(()),
    }
}

/// Inserts the station and its first account (credential already sealed); returns the station id.
pub async fn insert(
    db: &D1Database,
    org: i64,
    s: &NewStation,
    seal: &dyn Fn(i64) -> Result<String, GatewayError>,
    now: i64,
    limits: PlanLimits,
) -> Result<i64, GatewayError> {
    check_name_free(db, org, &s.name, None).await?;
    // Within the plan's station limit, counted in the insert itself.
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
    if let Err(e) = accounts::insert(db, org, station_id, &account, now, limits).await {
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

/// Stores an admin's edit; sync-made channels follow the station's weight and priority. With
/// `drop_accounts` (a new base URL) the station's accounts, keys and channels go in the same
/// batch: nothing stored for the old host is ever sent to the new one.
pub async fn update(
    db: &D1Database,
    org: i64,
    id: i64,
    s: &StationSettings,
    now: i64,
    drop_accounts: bool,
) -> Result<(), GatewayError> {
    check_name_free(db, org, &s.name, Some(id)).await?;
    let dialects = stored_override(s.dialects.as_deref())?;
    let mut statements = if drop_accounts {
        account_data(db, org, id)?
    } else {
        Vec::new()
    };
    statements.extend([

            stmt(
                db,
                "UPDATE stations SET name = ?1, base_url = ?2, weight = ?3, priority = ?4, enabled = ?5, checkin_enabled = ?6, updated_at = ?7, dialects = ?10 \
                 WHERE organization_id = ?8 AND id = ?9",
                &[s.name.as_str().into(), s.base_url.as_str().into(), num(s.weight), num(s.priority), num(i64::from(s.enabled)),
                  num(i64::from(s.checkin_enabled)), num(now), num(org), num(id), opt_str(dialects.as_deref())],
            )?,
            // Channels sync made follow the station's defaults; entries an admin edited keep theirs.
            stmt(
                db,
                "UPDATE route_entries SET weight = ?1, priority = ?2, updated_at = ?3 WHERE organization_id = ?4 AND station_id = ?5 AND manual = 0",
                &[num(s.weight), num(s.priority), num(now), num(org), num(id)],
            )?,
    ]);
    batch(db, statements).await
}

/// Statements that delete every account of a station with its keys, channels and history.
fn account_data(
    db: &D1Database,
    org: i64,
    id: i64,
) -> Result<Vec<D1PreparedStatement>, GatewayError> {
    let mut statements = accounts::delete_data(
        db,
        org,
        id,
        "account_id IN (SELECT id FROM accounts WHERE organization_id = ?1 AND station_id = ?2)",
    )?;
    for sql in [
        "DELETE FROM route_entries WHERE organization_id = ?1 AND station_id = ?2",
        "DELETE FROM accounts WHERE organization_id = ?1 AND station_id = ?2",
    ] {
        statements.push(stmt(db, sql, &[num(org), num(id)])?);
    }
    Ok(statements)
}

/// Deletes the station with its accounts and everything hanging off them, in one batch.
pub async fn delete(db: &D1Database, org: i64, id: i64) -> Result<(), GatewayError> {
    let mut statements = account_data(db, org, id)?;
    for sql in [
        "DELETE FROM station_models WHERE organization_id = ?1 AND station_id = ?2",
        "DELETE FROM stations WHERE organization_id = ?1 AND id = ?2",
    ] {
        statements.push(stmt(db, sql, &[num(org), num(id)])?);
    }
    batch(db, statements).await
}

/// A station a sync run may take: least recently synced first, with its enabled accounts.
#[derive(Deserialize)]
pub struct DueStation {
    pub id: i64,
    pub organization_id: i64,
    pub accounts: i64,
}

/// Enabled stations (of one organization, or all). Organizations take turns, each one's least
/// recently synced station first, so one tenant's hundred stations cannot starve another's one.
pub async fn due_for_sync(
    db: &D1Database,
    org: Option<i64>,
    limit: i64,
) -> Result<Vec<DueStation>, GatewayError> {
    all(
        db,
        "SELECT id, organization_id, accounts FROM (\
           SELECT s.id, s.organization_id, COALESCE(s.last_synced_at, 0) AS cursor, \
             (SELECT COUNT(*) FROM accounts a WHERE a.station_id = s.id AND a.enabled = 1) AS accounts, \
             ROW_NUMBER() OVER (PARTITION BY s.organization_id ORDER BY COALESCE(s.last_synced_at, 0), s.id) AS turn \
           FROM stations s WHERE s.enabled = 1 AND (?1 IS NULL OR s.organization_id = ?1)) \
         ORDER BY turn, cursor, id LIMIT ?2",
        &[opt_num(org), num(limit)],
    )
    .await
}

/// Claims a station for a sync run before its panel is called: one that hangs or fails goes to
/// the back of the line instead of staying first for every run.
pub async fn claim_for_sync(
    db: &D1Database,
    org: i64,
    id: i64,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE stations SET last_synced_at = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[num(now), num(org), num(id)],
    )
    .await
}

/// The quota unit the panel's status reported.
pub async fn set_quota_per_unit(
    db: &D1Database,
    org: i64,
    id: i64,
    quota_per_unit: f64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE stations SET quota_per_unit = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[opt_f64(Some(quota_per_unit)), num(org), num(id)],
    )
    .await
}

/// The end of a sync that reached the panel: its time and the account errors, if any.
pub async fn record_sync(
    db: &D1Database,
    org: i64,
    id: i64,
    error: Option<String>,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE stations SET last_synced_at = ?1, last_sync_error = ?2, updated_at = ?1 WHERE organization_id = ?3 AND id = ?4",
        &[num(now), error.map_or(JsValue::NULL, Into::into), num(org), num(id)],
    )
    .await
}

/// A sync that could not reach the panel: the station records it, and its enabled accounts are
/// `degraded` (the station, not the accounts, is at fault).
pub async fn record_unreachable(
    db: &D1Database,
    org: i64,
    id: i64,
    message: &str,
    now: i64,
) -> Result<(), GatewayError> {
    batch(
        db,
        vec![
            stmt(
                db,
                // last_synced_at is the last attempt: the sync cursor moves past a failing station.
                "UPDATE stations SET last_sync_error = ?1, last_synced_at = ?2, updated_at = ?2 WHERE organization_id = ?3 AND id = ?4",
                &[message.into(), num(now), num(org), num(id)],
            )?,
            stmt(
                db,
                "UPDATE accounts SET health = 'degraded', health_reason = ?1, health_changed_at = CASE WHEN health = 'degraded' THEN health_changed_at ELSE ?2 END \
                 WHERE organization_id = ?3 AND station_id = ?4 AND enabled = 1",
                &[format!("station unreachable: {message}").into(), num(now), num(org), num(id)],
            )?,
        ],
    )
    .await
}

/// A station's model (from its last sync) with its prices and how many channels serve it.
#[derive(Serialize, Deserialize)]
pub struct StationModel {
    model: String,
    billing: String,
    input_usd_per_mtok: Option<f64>,
    output_usd_per_mtok: Option<f64>,
    cache_read_usd_per_mtok: Option<f64>,
    usd_per_call: Option<f64>,
    endpoint_types: String,
    channels: i64,
    updated_at: i64,
}

/// The station's models, by name.
pub async fn models(db: &D1Database, org: i64, id: i64) -> Result<Vec<StationModel>, GatewayError> {
    all(
        db,
        "SELECT m.model, m.billing, m.input_usd_per_mtok, m.output_usd_per_mtok, m.cache_read_usd_per_mtok, m.usd_per_call, m.endpoint_types, m.updated_at, \
                (SELECT COUNT(*) FROM route_entries r WHERE r.organization_id = ?1 AND r.station_id = ?2 AND r.upstream_model = m.model) AS channels \
         FROM station_models m WHERE m.organization_id = ?1 AND m.station_id = ?2 ORDER BY m.model",
        &[num(org), num(id)],
    )
    .await
}

/// Replaces the station's models when every account answered; otherwise only adds what was
/// found, so one failing account does not take the others' models out of the route table.
pub async fn store_models(
    db: &D1Database,
    org: i64,
    station_id: i64,
    models: &BTreeSet<String>,
    prices: &HashMap<String, ModelPrice>,
    replace: bool,
    now: i64,
) -> Result<(), GatewayError> {
    let mut statements = Vec::new();
    if replace {
        statements.push(stmt(
            db,
            "DELETE FROM station_models WHERE organization_id = ?1 AND station_id = ?2",
            &[num(org), num(station_id)],
        )?);
    }
    for model in models {
        let (billing, input, output, cache_read, per_call) = match prices.get(model) {
            Some(ModelPrice::Tokens {
                input_usd_per_mtok,
                output_usd_per_mtok,
                cache_read_usd_per_mtok,
            }) => (
                "tokens",
                Some(*input_usd_per_mtok),
                Some(*output_usd_per_mtok),
                *cache_read_usd_per_mtok,
                None,
            ),
            Some(ModelPrice::PerCall { usd }) => ("per_call", None, None, None, Some(*usd)),
            None => ("unknown", None, None, None, None),
        };
        statements.push(stmt(
            db,
            "INSERT INTO station_models (organization_id, station_id, model, billing, input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok, usd_per_call, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (station_id, model) DO UPDATE SET billing = excluded.billing, \
             input_usd_per_mtok = excluded.input_usd_per_mtok, output_usd_per_mtok = excluded.output_usd_per_mtok, \
             cache_read_usd_per_mtok = excluded.cache_read_usd_per_mtok, usd_per_call = excluded.usd_per_call, updated_at = excluded.updated_at",
            &[num(org), num(station_id), model.as_str().into(), billing.into(), opt_f64(input), opt_f64(output), opt_f64(cache_read), opt_f64(per_call), num(now)],
        )?);
    }
    batch(db, statements).await
}
