//! Admin endpoints about how the relay reaches a station (`/api/provider/{id}/…`): the dialects
//! it serves (platform defaults, the explicit override, and what the relay learned), forgetting
//! learned facts, and re-enabling an upstream key marked invalid; and every pinned resource of
//! the organization (`GET /api/route/pins?kind=`), which relay callers see only their own of.

use super::admin::{ok, parse_id, unknown_endpoint};
use super::app::App;
use super::db::{self, num};
use super::{pins, routes};
use crate::core::error::GatewayError;
use crate::core::learned::Feature;
use crate::core::panels::relay_paths::{deserialize_override, dialects, DialectRoute};
use crate::core::station::Platform;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Method, Request, Response};

/// `rest`: the path after `/api/provider/`, starting with the station id.
pub async fn dispatch(
    req: &Request,
    app: &App,
    org: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    match (req.method(), rest) {
        (Method::Get, [id, "dialects"]) => show_dialects(app, org, parse_id(id)?).await,
        (Method::Delete, [id, "dialects", "learned"]) => {
            forget_learned(app, org, parse_id(id)?).await
        }
        (Method::Post, [id, "tokens", key, "enable"]) => {
            enable_key(app, org, parse_id(id)?, parse_id(key)?).await
        }
        _ => Err(unknown_endpoint(&req.method(), "provider/", rest)),
    }
}

#[derive(Deserialize)]
struct StationDialects {
    platform: String,
    #[serde(default, deserialize_with = "deserialize_override")]
    dialects: Option<Vec<DialectRoute>>,
}

#[derive(Serialize, Deserialize)]
struct LearnedRow {
    feature: String,
    learned_at: i64,
    until_ms: i64,
    evidence: String,
}

async fn station(app: &App, org: i64, id: i64) -> Result<StationDialects, GatewayError> {
    db::first(
        &app.db()?,
        "SELECT platform, dialects FROM stations WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await?
    .ok_or_else(|| GatewayError::NotFound(format!("station {id} not found")))
}

/// `GET /api/route/pins[?kind=file|video|response]`.
pub async fn list_pins(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let url = req.url()?;
    let kind = url
        .query_pairs()
        .find(|(k, _)| k == "kind")
        .map(|(_, v)| v.into_owned());
    ok(pins::list_all(&app.env, org, kind.as_deref()).await?)
}

/// The platform's defaults, the explicit override (which wins when set) and the learned gaps.
async fn show_dialects(app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    let station = station(app, org, id).await?;
    let defaults: Vec<DialectRoute> = Platform::parse(&station.platform)
        .map(|p| {
            dialects(p)
                .iter()
                .map(|(dialect, prefix)| DialectRoute {
                    dialect: *dialect,
                    prefix: (*prefix).to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let learned: Vec<LearnedRow> = db::all(
        &app.db()?,
        "SELECT feature, learned_at, until_ms, evidence FROM station_dialect_gaps \
         WHERE organization_id = ?1 AND station_id = ?2 ORDER BY feature",
        &[num(org), num(id)],
    )
    .await?;
    let learned: Vec<_> = learned
        .into_iter()
        .filter(|row| Feature::parse(&row.feature).is_some())
        .map(|row| {
            json!({
                "missing": row.feature,
                "learned_at": row.learned_at,
                "recheck_after": row.until_ms,
                "evidence": row.evidence,
            })
        })
        .collect();
    let applies = if station.dialects.is_some() {
        "override"
    } else {
        "defaults minus learned"
    };
    ok(json!({
        "platform": station.platform,
        "defaults": defaults,
        "override": station.dialects,
        "learned": learned,
        "applies": applies,
    }))
}

async fn forget_learned(app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    station(app, org, id).await?;
    db::run(
        &app.db()?,
        "DELETE FROM station_dialect_gaps WHERE organization_id = ?1 AND station_id = ?2",
        &[num(org), num(id)],
    )
    .await?;
    routes::publish_after_commit(&app.env, org).await;
    ok(json!({"forgotten": true}))
}

/// Puts an invalid (or disabled) key back into service; its channels return to the table.
async fn enable_key(
    app: &App,
    org: i64,
    station_id: i64,
    key_id: i64,
) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let found: Option<db::IdRow> = db::first(
        &d1,
        "SELECT id FROM upstream_keys WHERE organization_id = ?1 AND station_id = ?2 AND id = ?3",
        &[num(org), num(station_id), num(key_id)],
    )
    .await?;
    found.ok_or_else(|| GatewayError::NotFound(format!("key {key_id} not found")))?;
    db::run(
        &d1,
        "UPDATE upstream_keys SET status = 'active', status_reason = NULL, updated_at = ?1 \
         WHERE organization_id = ?2 AND id = ?3",
        &[num(super::app::now_ms()), num(org), num(key_id)],
    )
    .await?;
    routes::publish_after_commit(&app.env, org).await;
    ok(json!({"id": key_id, "status": "active"}))
}
