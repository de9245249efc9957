//! Admin endpoints about how the relay reaches a station (`/api/provider/{id}/…`): the dialects
//! it serves (platform defaults, the explicit override, and what the relay learned), forgetting
//! learned facts, and re-enabling an upstream key marked invalid; and every pinned resource of
//! the organization (`GET /api/route/pins?kind=`), which relay callers see only their own of.

use crate::core::error::GatewayError;
use crate::core::learned::Feature;
use crate::core::panels::relay_paths::{dialects, DialectRoute};
use crate::core::platform::Platform;
use crate::shell::app::{now_ms, App};
use crate::shell::http::{ok, parse_id, unknown_endpoint};
use crate::shell::repo::pins;
use crate::shell::repo::{dialect_gaps, stations, upstream_keys};
use crate::shell::routes;
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
            let id = parse_id(id)?;
            let d1 = app.db()?;
            stations::require(&d1, org, id).await?;
            dialect_gaps::clear(&d1, org, id).await?;
            routes::publish_after_commit(&app.env, org).await;
            ok(json!({"forgotten": true}))
        }
        (Method::Post, [id, "tokens", key, "enable"]) => {
            let (station_id, key_id) = (parse_id(id)?, parse_id(key)?);
            if !upstream_keys::enable(&app.db()?, org, station_id, key_id, now_ms()).await? {
                return Err(GatewayError::NotFound(format!("key {key_id} not found")));
            }
            routes::publish_after_commit(&app.env, org).await;
            ok(json!({"id": key_id, "status": "active"}))
        }
        _ => Err(unknown_endpoint(&req.method(), "provider/", rest)),
    }
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
    let d1 = app.db()?;
    let station = stations::require(&d1, org, id).await?;
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
    let learned: Vec<_> = dialect_gaps::of_station(&d1, org, id)
        .await?
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
