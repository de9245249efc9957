//! Route entries (`route_entries`): the channels (model → upstream key) the route table is
//! built from, as sync makes them and admins edit them.

use crate::core::error::GatewayError;
use crate::core::routing::RouteRow;
use crate::shell::db::{all, batch, first, num, opt_num, run, stmt, IdRow};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::D1Database;

/// Enabled route entries whose station, account and key are usable: the route table's source.
pub async fn table_rows(db: &D1Database, org: i64) -> Result<Vec<RouteRow>, GatewayError> {
    all(
        db,
        "SELECT r.id, r.model, r.upstream_model, r.station_id, r.upstream_key_id, s.base_url, s.platform, COALESCE(s.dialects, k.dialects) AS dialects, r.priority, r.weight, k.key_ciphertext, \
                (SELECT json_group_array(json_object('feature', g.feature, 'until_ms', g.until_ms)) FROM station_dialect_gaps g \
                 WHERE g.organization_id = r.organization_id AND g.station_id = r.station_id) AS gaps, \
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

/// A route entry as the admin API shows it; `cooldown` is filled in from the cooldown object.
#[derive(Serialize, Deserialize)]
pub struct RouteView {
    pub id: i64,
    model: String,
    upstream_model: String,
    station_id: i64,
    station_name: String,
    upstream_key_id: i64,
    key_hint: String,
    key_status: String,
    priority: i64,
    weight: i64,
    enabled: i64,
    manual: i64,
    #[serde(default)]
    pub cooldown: Option<serde_json::Value>,
}

/// Every route entry of the organization, by model.
pub async fn views(db: &D1Database, org: i64) -> Result<Vec<RouteView>, GatewayError> {
    all(
        db,
        "SELECT r.id, r.model, r.upstream_model, r.station_id, s.name AS station_name, r.upstream_key_id, k.key_hint, k.status AS key_status, \
                r.priority, r.weight, r.enabled, r.manual \
         FROM route_entries r JOIN stations s ON s.id = r.station_id AND s.organization_id = r.organization_id \
         JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = r.organization_id \
         WHERE r.organization_id = ?1 ORDER BY r.model, r.priority DESC, r.id",
        &[num(org)],
    )
    .await
}

/// A client-facing model with how many channels serve it (and how many can serve now).
#[derive(Serialize, Deserialize)]
pub struct ModelSummary {
    model: String,
    channels: i64,
    enabled_channels: i64,
    stations: i64,
}

pub async fn model_summaries(db: &D1Database, org: i64) -> Result<Vec<ModelSummary>, GatewayError> {
    all(
        db,
        "SELECT r.model, COUNT(*) AS channels, \
                SUM(CASE WHEN r.enabled = 1 AND k.status = 'active' THEN 1 ELSE 0 END) AS enabled_channels, \
                COUNT(DISTINCT r.station_id) AS stations \
         FROM route_entries r JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = r.organization_id \
         WHERE r.organization_id = ?1 GROUP BY r.model ORDER BY r.model",
        &[num(org)],
    )
    .await
}

/// Whether the organization has this route entry.
pub async fn exists(db: &D1Database, org: i64, id: i64) -> Result<bool, GatewayError> {
    let route: Option<IdRow> = first(
        db,
        "SELECT id FROM route_entries WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await?;
    Ok(route.is_some())
}

/// An admin's edit of one entry (absent fields unchanged).
pub struct RouteChange<'a> {
    pub weight: Option<i64>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    pub upstream_model: Option<&'a str>,
}

/// Applies the edit; the entry becomes `manual` (sync keeps its settings). False: no such entry.
pub async fn update(
    db: &D1Database,
    org: i64,
    id: i64,
    change: &RouteChange<'_>,
    now: i64,
) -> Result<bool, GatewayError> {
    let updated: Option<IdRow> = first(
        db,
        "UPDATE route_entries SET weight = COALESCE(?1, weight), priority = COALESCE(?2, priority), enabled = COALESCE(?3, enabled), \
         upstream_model = COALESCE(?4, upstream_model), manual = 1, updated_at = ?5 WHERE organization_id = ?6 AND id = ?7 RETURNING id",
        &[opt_num(change.weight), opt_num(change.priority), opt_num(change.enabled.map(i64::from)),
          change.upstream_model.map_or(JsValue::NULL, Into::into), num(now), num(org), num(id)],
    )
    .await?;
    Ok(updated.is_some())
}

/// An alias to insert: clients ask for `model`, the key's station is sent `upstream_model`.
pub struct NewAlias<'a> {
    pub model: &'a str,
    pub upstream_model: &'a str,
    pub upstream_key_id: i64,
    pub priority: i64,
    pub weight: i64,
}

/// Inserts the alias when the key belongs to the organization and the model does not route to
/// it yet; returns the new id.
pub async fn insert_alias(
    db: &D1Database,
    org: i64,
    alias: &NewAlias<'_>,
    now: i64,
) -> Result<Option<i64>, GatewayError> {
    // The key must belong to this organization; the station comes from the key.
    let inserted: Option<IdRow> = first(
        db,
        "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, manual, created_at, updated_at) \
         SELECT ?1, ?2, ?3, k.station_id, k.id, ?4, ?5, 1, ?6, ?6 FROM upstream_keys k WHERE k.organization_id = ?1 AND k.id = ?7 \
         ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING RETURNING id",
        &[num(org), alias.model.into(), alias.upstream_model.into(), num(alias.priority), num(alias.weight),
          num(now), num(alias.upstream_key_id)],
    )
    .await?;
    Ok(inserted.map(|r| r.id))
}

/// Re-creates missing entries from every station's models and active keys and drops sync-made
/// entries that lost their model or key.
pub async fn rebuild(db: &D1Database, org: i64, now: i64) -> Result<(), GatewayError> {
    batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, created_at, updated_at) \
                 SELECT m.organization_id, m.model, m.model, m.station_id, k.id, s.priority, s.weight, ?2, ?2 \
                 FROM station_models m JOIN stations s ON s.id = m.station_id AND s.organization_id = m.organization_id \
                 JOIN upstream_keys k ON k.station_id = m.station_id AND k.organization_id = m.organization_id AND k.status = 'active' \
                 WHERE m.organization_id = ?1 ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING",
                &[num(org), num(now)],
            )?,
            stmt(
                db,
                "DELETE FROM route_entries WHERE organization_id = ?1 AND manual = 0 AND ( \
                   NOT EXISTS (SELECT 1 FROM station_models m WHERE m.organization_id = ?1 AND m.station_id = route_entries.station_id AND m.model = route_entries.model) \
                   OR upstream_key_id NOT IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND status = 'active'))",
                &[num(org)],
            )?,
        ],
    )
    .await
}

/// The station's defaults for the entries sync creates.
pub struct StationDefaults {
    pub station_id: i64,
    pub priority: i64,
    pub weight: i64,
}

/// One entry per (active key, model of its group); existing entries keep their settings, new
/// ones take the station's default priority and weight, and sync-made entries of a model the
/// key's group no longer serves go.
pub async fn insert_synced(
    db: &D1Database,
    org: i64,
    s: &StationDefaults,
    keys: &[(i64, &[String])],
    now: i64,
) -> Result<(), GatewayError> {
    let mut statements = Vec::new();
    for (key_id, models) in keys {
        let names = serde_json::to_string(models)
            .map_err(|e| GatewayError::Internal(format!("model list encoding: {e}")))?;
        statements.push(stmt(
            db,
            "DELETE FROM route_entries WHERE organization_id = ?1 AND upstream_key_id = ?2 AND manual = 0 \
             AND model NOT IN (SELECT value FROM json_each(?3))",
            &[num(org), num(*key_id), names.into()],
        )?);
        for model in *models {
            statements.push(stmt(
                db,
                "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, created_at, updated_at) \
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING",
                &[num(org), model.as_str().into(), num(s.station_id), num(*key_id), num(s.priority), num(s.weight), num(now)],
            )?);
        }
    }
    batch(db, statements).await
}

/// Drops sync-made entries whose key is no longer active and, when the model list is
/// complete (every enabled account answered), those of enabled accounts whose model vanished
/// upstream. A disabled account's entries stay (the route query skips them) so that
/// re-enabling it restores its channels at once.
pub async fn prune_synced(
    db: &D1Database,
    org: i64,
    station_id: i64,
    models_complete: bool,
) -> Result<(), GatewayError> {
    run(
        db,
        "DELETE FROM route_entries WHERE organization_id = ?1 AND station_id = ?2 AND manual = 0 AND ( \
           (?3 = 1 AND model NOT IN (SELECT model FROM station_models WHERE organization_id = ?1 AND station_id = ?2) \
             AND upstream_key_id IN (SELECT k.id FROM upstream_keys k JOIN accounts a ON a.id = k.account_id \
                                     WHERE k.organization_id = ?1 AND k.station_id = ?2 AND a.enabled = 1)) \
           OR upstream_key_id NOT IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND station_id = ?2 AND status = 'active'))",
        &[num(org), num(station_id), num(i64::from(models_complete))],
    )
    .await
}
