//! Read-only views the admin console needs and the other endpoints do not give:
//! `GET /api/provider/:id/models` (a station's models with their published prices and
//! channels) and `GET /api/dashboard/keys?days=` (the period's calls, tokens and cost per
//! gateway key). Organization-scoped like every admin read.

use crate::core::error::GatewayError;
use crate::shell::app::{now_ms, App};
use crate::shell::db::{self, num};
use crate::shell::http::{ok, parse_id};
use serde::{Deserialize, Serialize};
use worker::{Request, Response};

const DAY_MS: i64 = 86_400_000;

#[derive(Serialize, Deserialize)]
struct StationModel {
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

/// A station's models (from its last sync) with prices and how many channels serve each.
pub async fn station_models(app: &App, org: i64, raw_id: &str) -> Result<Response, GatewayError> {
    let id = parse_id(raw_id)?;
    let d1 = app.db()?;
    let station: Option<db::IdRow> = db::first(
        &d1,
        "SELECT id FROM stations WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await?;
    station.ok_or_else(|| GatewayError::NotFound(format!("station {id} not found")))?;
    let models: Vec<StationModel> = db::all(
        &d1,
        "SELECT m.model, m.billing, m.input_usd_per_mtok, m.output_usd_per_mtok, m.cache_read_usd_per_mtok, m.usd_per_call, m.endpoint_types, m.updated_at, \
                (SELECT COUNT(*) FROM route_entries r WHERE r.organization_id = ?1 AND r.station_id = ?2 AND r.upstream_model = m.model) AS channels \
         FROM station_models m WHERE m.organization_id = ?1 AND m.station_id = ?2 ORDER BY m.model",
        &[num(org), num(id)],
    )
    .await?;
    ok(models)
}

#[derive(Serialize, Deserialize)]
struct KeyUsage {
    gateway_key_id: Option<i64>,
    name: Option<String>,
    key_hint: Option<String>,
    requests: i64,
    errors: i64,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cost_usd: Option<f64>,
}

/// Calls, errors, tokens and cost per gateway key over the last `days` (default 7, 1–366).
pub async fn usage_by_key(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let url = req.url()?;
    let days = match url.query_pairs().find(|(k, _)| k == "days") {
        Some((_, v)) => v.parse::<i64>().map_err(|_| {
            GatewayError::InvalidRequest(format!(
                "query parameter `days` has an invalid value `{v}`"
            ))
        })?,
        None => 7,
    }
    .clamp(1, 366);
    let now = now_ms();
    let rows: Vec<KeyUsage> = db::all(
        &app.db()?,
        "SELECT u.gateway_key_id, k.name, k.key_hint, COUNT(*) AS requests, \
                SUM(CASE WHEN u.status >= 400 OR u.error_class IS NOT NULL THEN 1 ELSE 0 END) AS errors, \
                SUM(u.prompt_tokens) AS prompt_tokens, SUM(u.completion_tokens) AS completion_tokens, SUM(u.cost_usd) AS cost_usd \
         FROM usage_logs u LEFT JOIN gateway_keys k ON k.id = u.gateway_key_id AND k.organization_id = u.organization_id \
         WHERE u.organization_id = ?1 AND u.created_at >= ?2 AND u.created_at < ?3 \
         GROUP BY u.gateway_key_id ORDER BY requests DESC LIMIT 100",
        &[num(org), num(now - days * DAY_MS), num(now + 1)],
    )
    .await?;
    ok(rows)
}
