//! The admin API (`/api/…`): the instance admin token acts in the default organization.
//! Answers `{"success":true,"data":…}`; errors are rendered by `shell::respond`.

use super::app::{json_response, now_ms, App, DEFAULT_ORGANIZATION_ID};
use super::db::{self, num, opt_num};
use super::{admin_logs, admin_providers, admin_routes, cache, relay};
use crate::core::crypto::constant_time_eq;
use crate::core::error::GatewayError;
use crate::core::gateway_key::{cidr_contains, mint_key};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Method, Request, Response};

pub async fn dispatch(
    req: &mut Request,
    app: &App,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    if let (Method::Get, ["log", "self"]) = (req.method(), segments) {
        // A key holder reads the logs of the key it presents; no admin token involved.
        let key = relay::authorize(req, app, now_ms()).await?;
        return admin_logs::list(req, app, key.organization_id, Some(key.id)).await;
    }
    let org = authenticate(req, app)?;
    match (req.method(), segments) {
        (_, ["provider", rest @ ..]) => admin_providers::dispatch(req, app, org, rest).await,
        (_, ["jobs", rest @ ..]) => admin_providers::jobs(req, app, org, rest).await,
        (Method::Get, ["agg-token"]) => list_gateway_keys(app, org).await,
        (Method::Post, ["agg-token"]) => create_gateway_key(req, app, org).await,
        (_, ["route", rest @ ..]) => admin_routes::dispatch(req, app, org, rest).await,
        (Method::Get, ["log"]) => admin_logs::list(req, app, org, None).await,
        (Method::Get, ["dashboard"]) => admin_logs::dashboard(req, app, org).await,
        _ => Err(GatewayError::NotFound(format!(
            "Unknown admin endpoint: {} /api/{}",
            req.method(),
            segments.join("/")
        ))),
    }
}

pub(super) fn ok<T: Serialize>(data: T) -> Result<Response, GatewayError> {
    Ok(json_response(&json!({"success": true, "data": data}), 200))
}

pub(super) fn parse_id(raw: &str) -> Result<i64, GatewayError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| GatewayError::InvalidRequest(format!("`{raw}` is not a valid id")))
}

/// `Authorization: Bearer $AUTH_TOKEN`, compared in constant time.
fn authenticate(req: &Request, app: &App) -> Result<i64, GatewayError> {
    let expected = app.secret("AUTH_TOKEN").ok_or_else(|| {
        GatewayError::Unauthorized("AUTH_TOKEN is not configured on this gateway".into())
    })?;
    let presented = req.headers().get("Authorization")?.unwrap_or_default();
    let token = presented
        .trim()
        .strip_prefix("Bearer ")
        .unwrap_or_default()
        .trim();
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(DEFAULT_ORGANIZATION_ID)
    } else {
        Err(GatewayError::Unauthorized(
            "Invalid or missing admin token".into(),
        ))
    }
}

pub(super) async fn json_body<T: for<'de> Deserialize<'de>>(
    req: &mut Request,
) -> Result<T, GatewayError> {
    let bytes = req.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        GatewayError::MalformedJson(format!(
            "request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

#[derive(Deserialize)]
struct NewGatewayKey {
    name: Option<String>,
    expires_at: Option<i64>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
}

async fn create_gateway_key(
    req: &mut Request,
    app: &App,
    org: i64,
) -> Result<Response, GatewayError> {
    let input: NewGatewayKey = json_body(req).await?;
    let now = now_ms();
    let bad = |m: String| Err(GatewayError::InvalidRequest(m));
    if input.expires_at.is_some_and(|t| t <= now) {
        return bad("`expires_at` must be in the future (Unix ms)".into());
    }
    if let Some(m) = input.models.iter().find(|m| m.trim().is_empty()) {
        return bad(format!("`models` contains an empty entry {m:?}"));
    }
    let probe = "0.0.0.0"
        .parse()
        .map_err(|_| GatewayError::Internal("ip parse".into()))?;
    let probe6 = "::"
        .parse()
        .map_err(|_| GatewayError::Internal("ip parse".into()))?;
    if let Some(ip) = input
        .allowed_ips
        .iter()
        .find(|c| !valid_cidr(c, probe, probe6))
    {
        return bad(format!(
            "`allowed_ips` entry `{ip}` is not an IP address or CIDR"
        ));
    }
    if input.request_limit.is_some_and(|l| l < 0) || input.cost_limit_usd.is_some_and(|l| l < 0.0) {
        return bad("limits must not be negative".into());
    }
    let minted = mint_key()?;
    let name = input.name.unwrap_or_default();
    let models = serde_json::to_string(&input.models).unwrap_or_else(|_| "[]".into());
    let ips = serde_json::to_string(&input.allowed_ips).unwrap_or_else(|_| "[]".into());
    let row: Option<db::IdRow> = db::first(
        &app.db()?,
        "INSERT INTO gateway_keys (organization_id, name, key_hash, key_hint, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING id",
        &[num(org), name.as_str().into(), minted.hash.as_str().into(), minted.hint.as_str().into(), opt_num(input.expires_at), models.into(), ips.into(),
          opt_num(input.request_limit), db::opt_f64(input.cost_limit_usd), num(now)],
    )
    .await?;
    let id = row
        .ok_or_else(|| GatewayError::Internal("key insert returned no id".into()))?
        .id;
    cache::forget_key(&minted.hash);
    let data = json!({
        "id": id, "name": name, "key": minted.full, "key_hint": minted.hint, "expires_at": input.expires_at,
        "models": input.models, "allowed_ips": input.allowed_ips, "request_limit": input.request_limit, "cost_limit_usd": input.cost_limit_usd,
        "note": "Store this key now: it is shown only once.",
    });
    Ok(json_response(&json!({"success": true, "data": data}), 201))
}

fn valid_cidr(cidr: &str, v4: std::net::IpAddr, v6: std::net::IpAddr) -> bool {
    let (addr, bits) = cidr
        .trim()
        .split_once('/')
        .map_or((cidr.trim(), None), |(a, b)| (a, Some(b)));
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let width = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= width))
        && (cidr_contains(cidr, ip) || cidr_contains(cidr, if ip.is_ipv4() { v4 } else { v6 }))
}

#[derive(Serialize, Deserialize)]
struct GatewayKeyView {
    id: i64,
    name: String,
    key_hint: String,
    enabled: i64,
    expires_at: Option<i64>,
    allowed_models: String,
    allowed_ips: String,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
    used_requests: i64,
    used_cost_usd: f64,
    last_used_at: Option<i64>,
    created_at: i64,
}

async fn list_gateway_keys(app: &App, org: i64) -> Result<Response, GatewayError> {
    let keys: Vec<GatewayKeyView> = db::all(
        &app.db()?,
        "SELECT id, name, key_hint, enabled, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, used_requests, used_cost_usd, last_used_at, created_at \
         FROM gateway_keys WHERE organization_id = ?1 ORDER BY id",
        &[num(org)],
    )
    .await?;
    ok(keys)
}
