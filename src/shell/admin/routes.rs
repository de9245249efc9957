//! Admin route management (`/api/route/…`): list with cooldown state, per-model summary,
//! edit weight/priority/enabled/upstream model, aliases, rebuild, cooldown clear. Every edit
//! republishes the organization's route table to KV and the isolate.

use crate::core::error::GatewayError;
use crate::shell::app::{now_ms, App};
use crate::shell::db::{self, num, opt_num};
use crate::shell::http::{created, json_body, ok, parse_id, unknown_endpoint};
use crate::shell::{routes, upstream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use worker::{Method, Request, Response};

pub async fn dispatch(
    req: &mut Request,
    app: &App,
    org: i64,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    match (req.method(), segments) {
        (Method::Get, []) => list(app, org).await,
        (Method::Post, []) => create_alias(req, app, org).await,
        (Method::Get, ["models"]) => models(app, org).await,
        (Method::Post, ["rebuild"]) => rebuild(app, org).await,
        (Method::Put, [id]) => update(req, app, org, parse_id(id)?).await,
        (Method::Post, [id, "cooldown", "clear"]) => {
            let id = parse_id(id)?;
            // Another organization's route id is a 404 here, like everywhere else.
            let route: Option<db::IdRow> = db::first(
                &app.db()?,
                "SELECT id FROM route_entries WHERE organization_id = ?1 AND id = ?2",
                &[num(org), num(id)],
            )
            .await?;
            route.ok_or_else(|| GatewayError::NotFound(format!("route {id} not found")))?;
            upstream::clear_cooldown(&app.env, org, Some(id)).await?;
            ok(json!({"cleared": true}))
        }
        _ => Err(unknown_endpoint(&req.method(), "route/", segments)),
    }
}

#[derive(Serialize, Deserialize)]
struct RouteView {
    id: i64,
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
    cooldown: Option<serde_json::Value>,
}

async fn list(app: &App, org: i64) -> Result<Response, GatewayError> {
    let mut routes: Vec<RouteView> = db::all(
        &app.db()?,
        "SELECT r.id, r.model, r.upstream_model, r.station_id, s.name AS station_name, r.upstream_key_id, k.key_hint, k.status AS key_status, \
                r.priority, r.weight, r.enabled, r.manual \
         FROM route_entries r JOIN stations s ON s.id = r.station_id AND s.organization_id = r.organization_id \
         JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = r.organization_id \
         WHERE r.organization_id = ?1 ORDER BY r.model, r.priority DESC, r.id",
        &[num(org)],
    )
    .await?;
    let now = now_ms();
    let states: HashMap<i64, _> = upstream::cooldown_entries(&app.env, org)
        .await?
        .into_iter()
        .map(|c| (c.channel_id, c))
        .collect();
    for route in &mut routes {
        route.cooldown = states.get(&route.id).map(|c| {
            json!({"failures": c.failures, "until_ms": c.until_ms, "cooling": c.is_cooling(now), "last_error": c.last_error})
        });
    }
    ok(routes)
}

#[derive(Serialize, Deserialize)]
struct ModelSummary {
    model: String,
    channels: i64,
    enabled_channels: i64,
    stations: i64,
}

/// Client-facing models with how many channels serve each (and how many can serve now).
async fn models(app: &App, org: i64) -> Result<Response, GatewayError> {
    ok(db::all::<ModelSummary>(
        &app.db()?,
        "SELECT r.model, COUNT(*) AS channels, \
                SUM(CASE WHEN r.enabled = 1 AND k.status = 'active' THEN 1 ELSE 0 END) AS enabled_channels, \
                COUNT(DISTINCT r.station_id) AS stations \
         FROM route_entries r JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = r.organization_id \
         WHERE r.organization_id = ?1 GROUP BY r.model ORDER BY r.model",
        &[num(org)],
    )
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteUpdate {
    weight: Option<i64>,
    priority: Option<i64>,
    enabled: Option<bool>,
    upstream_model: Option<String>,
}

/// Edits one route entry. It becomes `manual`: sync keeps these settings from now on.
async fn update(req: &mut Request, app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    let change: RouteUpdate = json_body(req).await?;
    if change.weight.is_some_and(|w| !(0..=10_000).contains(&w)) {
        return Err(GatewayError::InvalidRequest(
            "`weight` must be between 0 and 10000".into(),
        ));
    }
    if change
        .priority
        .is_some_and(|p| !(-1000..=1000).contains(&p))
    {
        return Err(GatewayError::InvalidRequest(
            "`priority` must be between -1000 and 1000".into(),
        ));
    }
    if change
        .upstream_model
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return Err(GatewayError::InvalidRequest(
            "`upstream_model` must not be empty".into(),
        ));
    }
    let d1 = app.db()?;
    let updated: Option<db::IdRow> = db::first(
        &d1,
        "UPDATE route_entries SET weight = COALESCE(?1, weight), priority = COALESCE(?2, priority), enabled = COALESCE(?3, enabled), \
         upstream_model = COALESCE(?4, upstream_model), manual = 1, updated_at = ?5 WHERE organization_id = ?6 AND id = ?7 RETURNING id",
        &[opt_num(change.weight), opt_num(change.priority), opt_num(change.enabled.map(i64::from)),
          change.upstream_model.as_deref().map_or(wasm_bindgen::JsValue::NULL, |m| m.trim().into()), num(now_ms()), num(org), num(id)],
    )
    .await?;
    if updated.is_none() {
        return Err(GatewayError::NotFound(format!("route {id} not found")));
    }
    routes::publish(&app.env, org).await?;
    ok(json!({"id": id, "updated": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAlias {
    model: String,
    upstream_model: String,
    upstream_key_id: i64,
    priority: Option<i64>,
    weight: Option<i64>,
}

/// An alias: clients ask for `model`, the key's station is sent `upstream_model`.
async fn create_alias(req: &mut Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let alias: NewAlias = json_body(req).await?;
    let (model, upstream_model) = (alias.model.trim(), alias.upstream_model.trim());
    if model.is_empty() || upstream_model.is_empty() {
        return Err(GatewayError::InvalidRequest(
            "`model` and `upstream_model` are required".into(),
        ));
    }
    let d1 = app.db()?;
    let now = now_ms();
    // The key must belong to this organization; the station comes from the key.
    let inserted: Option<db::IdRow> = db::first(
        &d1,
        "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, manual, created_at, updated_at) \
         SELECT ?1, ?2, ?3, k.station_id, k.id, ?4, ?5, 1, ?6, ?6 FROM upstream_keys k WHERE k.organization_id = ?1 AND k.id = ?7 \
         ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING RETURNING id",
        &[num(org), model.into(), upstream_model.into(), num(alias.priority.unwrap_or(0)), num(alias.weight.unwrap_or(10).clamp(0, 10_000)),
          num(now), num(alias.upstream_key_id)],
    )
    .await?;
    let Some(row) = inserted else {
        let key_exists: Option<db::IdRow> = db::first(
            &d1,
            "SELECT id FROM upstream_keys WHERE organization_id = ?1 AND id = ?2",
            &[num(org), num(alias.upstream_key_id)],
        )
        .await?;
        return Err(match key_exists {
            None => {
                GatewayError::NotFound(format!("upstream key {} not found", alias.upstream_key_id))
            }
            Some(_) => GatewayError::Conflict(format!(
                "`{model}` already routes to upstream key {}",
                alias.upstream_key_id
            )),
        });
    };
    routes::publish(&app.env, org).await?;
    created(json!({"id": row.id}))
}

/// Re-creates missing route entries from every station's models and active keys, drops
/// sync-made entries that lost their model or key, and republishes the table.
async fn rebuild(app: &App, org: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let now = now_ms();
    db::batch(
        &d1,
        vec![
            db::stmt(
                &d1,
                "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, created_at, updated_at) \
                 SELECT m.organization_id, m.model, m.model, m.station_id, k.id, s.priority, s.weight, ?2, ?2 \
                 FROM station_models m JOIN stations s ON s.id = m.station_id AND s.organization_id = m.organization_id \
                 JOIN upstream_keys k ON k.station_id = m.station_id AND k.organization_id = m.organization_id AND k.status = 'active' \
                 WHERE m.organization_id = ?1 ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING",
                &[num(org), num(now)],
            )?,
            db::stmt(
                &d1,
                "DELETE FROM route_entries WHERE organization_id = ?1 AND manual = 0 AND ( \
                   NOT EXISTS (SELECT 1 FROM station_models m WHERE m.organization_id = ?1 AND m.station_id = route_entries.station_id AND m.model = route_entries.model) \
                   OR upstream_key_id NOT IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND status = 'active'))",
                &[num(org)],
            )?,
        ],
    )
    .await?;
    let table = routes::publish(&app.env, org).await?;
    let channels: usize = table.models.values().map(Vec::len).sum();
    ok(json!({"models": table.models.len(), "channels": channels, "built_at": table.built_at}))
}
