//! Gateway keys (`/api/agg-token/…` and `/api/user-api-keys/…`, the same keys): list, create
//! (full key shown once, within the plan's key limit), edit, delete, and the organization's
//! default bounds of a member's new key. Members see and manage only their own keys and may only
//! tighten them; admins and the owner every key of the organization, in both directions.

use super::admin::{json_body, ok, parse_id};
use super::app::{json_response, now_ms, App};
use super::auth::Caller;
use super::cache;
use super::db::{self, num, opt_num};
use super::plans::org_limits;
use crate::core::error::GatewayError;
use crate::core::gateway_key::{cidr_contains, mint_key, BoundsChange, KeyBounds};
use crate::core::plans::Limit;
use crate::core::roles::{can, Action};
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
        (Method::Get, ["defaults"]) => ok(key_defaults(app, caller.org).await?),
        (Method::Put, ["defaults"]) => set_key_defaults(req, app, caller).await,
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

    fn change(&self) -> BoundsChange {
        BoundsChange {
            enabled: self.enabled,
            expires_at: self.expires_at,
            models: self.models.clone(),
            allowed_ips: self.allowed_ips.clone(),
            request_limit: self.request_limit,
            cost_limit_usd: self.cost_limit_usd,
        }
    }

    fn json_list(list: &Option<Vec<String>>) -> JsValue {
        list.as_ref()
            .and_then(|l| serde_json::to_string(l).ok())
            .map_or(JsValue::NULL, JsValue::from)
    }
}

/// The settings row that holds the organization's default bounds of a member's new key.
const KEY_DEFAULTS: &str = "key_defaults";

/// The bounds a member's new key starts from (an admin sets them; unset: unbounded).
async fn key_defaults(app: &App, org: i64) -> Result<KeyBounds, GatewayError> {
    let row: Option<ValueRow> = db::first(
        &app.db()?,
        "SELECT value FROM settings WHERE organization_id = ?1 AND key = ?2",
        &[num(org), KEY_DEFAULTS.into()],
    )
    .await?;
    let unbounded = KeyBounds {
        enabled: true,
        ..KeyBounds::default()
    };
    Ok(row
        .and_then(|r| serde_json::from_str(&r.value).ok())
        .unwrap_or(unbounded))
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

/// `PUT /api/agg-token/defaults` (admins and owner): the bounds every member's new key gets.
async fn set_key_defaults(
    req: &mut Request,
    app: &App,
    caller: &Caller,
) -> Result<Response, GatewayError> {
    caller.require(Action::ManageAllKeys)?;
    let input: KeyInput = json_body(req).await?;
    input.validate(now_ms())?;
    let bounds = KeyBounds {
        enabled: true,
        ..KeyBounds::default()
    }
    .apply(&input.change());
    let json = serde_json::to_string(&bounds).map_err(|e| GatewayError::Internal(e.to_string()))?;
    db::run(
        &app.db()?,
        "INSERT INTO settings (organization_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (organization_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[num(caller.org), KEY_DEFAULTS.into(), json.into(), num(now_ms())],
    )
    .await?;
    ok(bounds)
}

/// The key is created for the caller (the instance admin's keys have no user) as long as the
/// organization is under its plan's key limit — counted in the same statement as the insert.
/// A member's key starts from the organization's defaults and may only be tighter.
async fn create(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    let input: KeyInput = json_body(req).await?;
    let now = now_ms();
    input.validate(now)?;
    let base = if can(caller.role, Action::ManageAllKeys) {
        KeyBounds {
            enabled: true,
            ..KeyBounds::default()
        }
    } else {
        let defaults = key_defaults(app, caller.org).await?;
        defaults.check_tightening(&input.change())?;
        defaults
    };
    let bounds = base.apply(&input.change());
    let input = KeyInput {
        expires_at: bounds.expires_at,
        request_limit: bounds.request_limit,
        cost_limit_usd: bounds.cost_limit_usd,
        ..input
    };
    let d1 = app.db()?;
    let limits = org_limits(&d1, caller.org).await?;
    let minted = mint_key()?;
    let name = input.name.clone().unwrap_or_default();
    let models = bounds.models;
    let ips = bounds.allowed_ips;
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
    Ok(json_response(&json!({"success": true, "data": data}), 201))
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
    if !can(caller.role, Action::ManageAllKeys) {
        // A member renames, revokes or tightens their own key; loosening is an admin's.
        current_bounds(app, caller, id)
            .await?
            .check_tightening(&input.change())?;
    }
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

#[derive(Deserialize)]
struct BoundsRow {
    enabled: i64,
    expires_at: Option<i64>,
    allowed_models: String,
    allowed_ips: String,
    request_limit: Option<i64>,
    cost_limit_usd: Option<f64>,
}

/// The bounds of a key the caller may manage (404 otherwise).
async fn current_bounds(app: &App, caller: &Caller, id: i64) -> Result<KeyBounds, GatewayError> {
    let (all, user) = scope(caller);
    let row: Option<BoundsRow> = db::first(
        &app.db()?,
        "SELECT enabled, expires_at, allowed_models, allowed_ips, request_limit, cost_limit_usd FROM gateway_keys \
         WHERE organization_id = ?1 AND id = ?2 AND (?3 = 1 OR user_id = ?4)",
        &[num(caller.org), num(id), all, user],
    )
    .await?;
    let row = row.ok_or_else(|| not_found(id))?;
    let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
    Ok(KeyBounds {
        enabled: row.enabled != 0,
        expires_at: row.expires_at,
        models: list(&row.allowed_models),
        allowed_ips: list(&row.allowed_ips),
        request_limit: row.request_limit,
        cost_limit_usd: row.cost_limit_usd,
    })
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
