//! Gateway keys (`/api/agg-token/…` and `/api/user-api-keys/…`, the same keys): list, create
//! (full key shown once, within the plan's key limit), edit, delete. Members see and manage
//! only their own keys; admins and the owner every key of the organization.

use crate::core::error::GatewayError;
use crate::core::gateway_key::{cidr_contains, mint_key};
use crate::core::plans::Limit;
use crate::core::roles::{can, Action};
use crate::shell::app::{now_ms, App};
use crate::shell::auth::Caller;
use crate::shell::cache;
use crate::shell::db::{self, num, opt_num};
use crate::shell::http::{created, json_body, ok, parse_id};
use crate::shell::plans::org_limits;
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Method, Request, Response};

pub async fn dispatch(
    req: &mut Request,
    app: &App,
    caller: &Caller,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    match (req.method(), segments) {
        (Method::Get, []) => list(app, caller).await,
        (Method::Post, []) => create(req, app, caller).await,
        (Method::Put | Method::Patch, [id]) => update(req, app, caller, parse_id(id)?).await,
        (Method::Delete, [id]) => delete(app, caller, parse_id(id)?).await,
        _ => Err(GatewayError::NotFound(
            "Unknown gateway key endpoint".into(),
        )),
    }
}

/// Bound values of the "whose keys" filter: `?a = 1 OR user_id = ?b`.
fn scope(caller: &Caller) -> (JsValue, JsValue) {
    let all = can(caller.role, Action::ManageAllKeys);
    (num(i64::from(all)), opt_num(caller.user_id))
}

/// Fields a key is created or edited with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyInput {
    name: Option<String>,
    expires_at: Option<i64>,
    models: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
    /// Edit only.
    enabled: Option<bool>,
}

impl KeyInput {
    fn validate(&self, now: i64) -> Result<(), GatewayError> {
        let bad = |m: String| Err(GatewayError::InvalidRequest(m));
        if self.expires_at.is_some_and(|t| t <= now) {
            return bad("`expires_at` must be in the future (Unix ms)".into());
        }
        if let Some(m) = self.models.iter().flatten().find(|m| m.trim().is_empty()) {
            return bad(format!("`models` contains an empty entry {m:?}"));
        }
        if let Some(ip) = self.allowed_ips.iter().flatten().find(|c| !valid_cidr(c)) {
            return bad(format!(
                "`allowed_ips` entry `{ip}` is not an IP address or CIDR"
            ));
        }
        if self.request_limit.is_some_and(|l| l < 0) || self.cost_limit_usd.is_some_and(|l| l < 0.0)
        {
            return bad("limits must not be negative".into());
        }
        Ok(())
    }

    fn json_list(list: &Option<Vec<String>>) -> JsValue {
        list.as_ref()
            .and_then(|l| serde_json::to_string(l).ok())
            .map_or(JsValue::NULL, JsValue::from)
    }
}

/// The key is created for the caller (the instance admin's keys have no user) as long as the
/// organization is under its plan's key limit — counted in the same statement as the insert.
async fn create(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    let input: KeyInput = json_body(req).await?;
    let now = now_ms();
    input.validate(now)?;
    let d1 = app.db()?;
    let limits = org_limits(&d1, caller.org).await?;
    let minted = mint_key()?;
    let name = input.name.clone().unwrap_or_default();
    let models = input.models.clone().unwrap_or_default();
    let ips = input.allowed_ips.clone().unwrap_or_default();
    let row: Option<db::IdRow> = db::first(
        &d1,
        "INSERT INTO gateway_keys (organization_id, user_id, name, key_hash, key_hint, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11 WHERE (SELECT COUNT(*) FROM gateway_keys WHERE organization_id = ?1) < ?12 RETURNING id",
        &[num(caller.org), opt_num(caller.user_id), name.as_str().into(), minted.hash.as_str().into(), minted.hint.as_str().into(), opt_num(input.expires_at),
          KeyInput::json_list(&Some(models.clone())), KeyInput::json_list(&Some(ips.clone())), opt_num(input.request_limit), db::opt_f64(input.cost_limit_usd), num(now), num(limits.gateway_keys)],
    )
    .await?;
    let id = row.ok_or_else(|| limits.exceeded(Limit::GatewayKeys))?.id;
    cache::forget_key(&minted.hash);
    let data = json!({
        "id": id, "name": name, "key": minted.full, "key_hint": minted.hint, "expires_at": input.expires_at,
        "models": models, "allowed_ips": ips, "request_limit": input.request_limit, "cost_limit_usd": input.cost_limit_usd,
        "user_id": caller.user_id,
        "note": "Store this key now: it is shown only once.",
    });
    created(data)
}

fn valid_cidr(cidr: &str) -> bool {
    let (addr, bits) = cidr
        .trim()
        .split_once('/')
        .map_or((cidr.trim(), None), |(a, b)| (a, Some(b)));
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let width = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= width)) && cidr_contains(cidr, ip)
}

#[derive(Serialize, Deserialize)]
struct GatewayKeyView {
    id: i64,
    user_id: Option<i64>,
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

async fn list(app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    let (all, user) = scope(caller);
    let keys: Vec<GatewayKeyView> = db::all(
        &app.db()?,
        "SELECT id, user_id, name, key_hint, enabled, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd, used_requests, used_cost_usd, last_used_at, created_at \
         FROM gateway_keys WHERE organization_id = ?1 AND (?2 = 1 OR user_id = ?3) ORDER BY id",
        &[num(caller.org), all, user],
    )
    .await?;
    ok(keys)
}

#[derive(Deserialize)]
struct HashRow {
    key_hash: String,
}

fn not_found(id: i64) -> GatewayError {
    GatewayError::NotFound(format!("gateway key {id} not found"))
}

async fn update(
    req: &mut Request,
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<Response, GatewayError> {
    let input: KeyInput = json_body(req).await?;
    input.validate(now_ms())?;
    let (all, user) = scope(caller);
    let row: Option<HashRow> = db::first(
        &app.db()?,
        "UPDATE gateway_keys SET name = COALESCE(?1, name), expires_at = COALESCE(?2, expires_at), allowed_models = COALESCE(?3, allowed_models), \
         allowed_ips = COALESCE(?4, allowed_ips), request_limit = COALESCE(?5, request_limit), cost_limit_usd = COALESCE(?6, cost_limit_usd), \
         enabled = COALESCE(?7, enabled), updated_at = ?8 \
         WHERE organization_id = ?9 AND id = ?10 AND (?11 = 1 OR user_id = ?12) RETURNING key_hash",
        &[db::opt_str(input.name.as_deref()), opt_num(input.expires_at), KeyInput::json_list(&input.models), KeyInput::json_list(&input.allowed_ips),
          opt_num(input.request_limit), db::opt_f64(input.cost_limit_usd), opt_num(input.enabled.map(i64::from)), num(now_ms()),
          num(caller.org), num(id), all, user],
    )
    .await?;
    cache::forget_key(&row.ok_or_else(|| not_found(id))?.key_hash);
    ok(json!({"id": id, "updated": true}))
}

async fn delete(app: &App, caller: &Caller, id: i64) -> Result<Response, GatewayError> {
    let (all, user) = scope(caller);
    let row: Option<HashRow> = db::first(
        &app.db()?,
        "DELETE FROM gateway_keys WHERE organization_id = ?1 AND id = ?2 AND (?3 = 1 OR user_id = ?4) RETURNING key_hash",
        &[num(caller.org), num(id), all, user],
    )
    .await?;
    cache::forget_key(&row.ok_or_else(|| not_found(id))?.key_hash);
    ok(json!({"deleted": id}))
}
