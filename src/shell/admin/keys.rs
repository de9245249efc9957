//! Gateway keys (`/api/agg-token/…` and `/api/user-api-keys/…`, the same keys): list, create
//! (full key shown once, within the plan's key limit), edit, delete, and the organization's
//! default bounds of a member's new key. Members see and manage only their own keys and may only
//! tighten them; admins and the owner every key of the organization, in both directions.

use crate::core::error::GatewayError;
use crate::core::gateway_key::{mint_key, KeyBounds, KeyInput};
use crate::core::plans::Limit;
use crate::core::roles::{can, Action};
use crate::shell::app::{now_ms, App};
use crate::shell::auth::Caller;
use crate::shell::cache;
use crate::shell::http::{created, json_body, ok, parse_id};
use crate::shell::plans::org_limits;
use crate::shell::repo::gateway_keys::{self, KeyFields, KeyScope, NewKey};
use serde_json::json;
use worker::{Method, Request, Response};

pub async fn dispatch(
    req: &mut Request,
    app: &App,
    caller: &Caller,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    match (req.method(), segments) {
        (Method::Get, ["defaults"]) => ok(gateway_keys::defaults(&app.db()?, caller.org).await?),
        (Method::Put, ["defaults"]) => set_defaults(req, app, caller).await,
        (Method::Get, []) => list(app, caller).await,
        (Method::Post, []) => create(req, app, caller).await,
        (Method::Put | Method::Patch, [id]) => update(req, app, caller, parse_id(id)?).await,
        (Method::Delete, [id]) => delete(app, caller, parse_id(id)?).await,
        _ => Err(GatewayError::NotFound(
            "Unknown gateway key endpoint".into(),
        )),
    }
}

/// The keys the caller reaches.
fn scope(caller: &Caller) -> KeyScope {
    KeyScope {
        org: caller.org,
        all: can(caller.role, Action::ManageAllKeys),
        user_id: caller.user_id,
    }
}

fn json_list(list: Option<&Vec<String>>) -> Option<String> {
    list.and_then(|l| serde_json::to_string(l).ok())
}

/// The input's fields as stored (lists as JSON; absent lists stay absent).
fn fields(input: &KeyInput) -> KeyFields<'_> {
    KeyFields {
        name: input.name.as_deref(),
        expires_at: input.expires_at,
        models_json: json_list(input.models.as_ref()),
        ips_json: json_list(input.allowed_ips.as_ref()),
        request_limit: input.request_limit,
        cost_limit_usd: input.cost_limit_usd,
    }
}

/// `PUT /api/agg-token/defaults` (admins and owner): the bounds every member's new key gets.
async fn set_defaults(
    req: &mut Request,
    app: &App,
    caller: &Caller,
) -> Result<Response, GatewayError> {
    caller.require(Action::ManageAllKeys)?;
    let input: KeyInput = json_body(req).await?;
    input.validate(now_ms())?;
    let bounds = KeyBounds::unbounded().apply(&input.change());
    gateway_keys::set_defaults(&app.db()?, caller.org, &bounds, now_ms()).await?;
    ok(bounds)
}

/// The key is created for the caller (the instance admin's keys have no user) as long as the
/// organization is under its plan's key limit — counted in the same statement as the insert.
/// A member's key starts from the organization's defaults and may only be tighter.
async fn create(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    let input: KeyInput = json_body(req).await?;
    let now = now_ms();
    input.validate(now)?;
    let d1 = app.db()?;
    let base = if can(caller.role, Action::ManageAllKeys) {
        KeyBounds::unbounded()
    } else {
        let defaults = gateway_keys::defaults(&d1, caller.org).await?;
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
    let limits = org_limits(&d1, caller.org).await?;
    let minted = mint_key()?;
    let name = input.name.clone().unwrap_or_default();
    let models = bounds.models;
    let ips = bounds.allowed_ips;
    let stored = KeyFields {
        name: Some(&name),
        models_json: json_list(Some(&models)),
        ips_json: json_list(Some(&ips)),
        ..fields(&input)
    };
    let key = NewKey {
        hash: &minted.hash,
        hint: &minted.hint,
    };
    let id = gateway_keys::insert(
        &d1,
        (caller.org, caller.user_id),
        key,
        &stored,
        limits.gateway_keys,
        now,
    )
    .await?
    .ok_or_else(|| limits.exceeded(Limit::GatewayKeys))?;
    cache::forget_key(&minted.hash);
    created(json!({
        "id": id, "name": name, "key": minted.full, "key_hint": minted.hint, "expires_at": input.expires_at,
        "models": models, "allowed_ips": ips, "request_limit": input.request_limit, "cost_limit_usd": input.cost_limit_usd,
        "user_id": caller.user_id,
        "note": "Store this key now: it is shown only once.",
    }))
}

async fn list(app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    ok(gateway_keys::views(&app.db()?, &scope(caller)).await?)
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
    let now = now_ms();
    input.validate(now)?;
    let d1 = app.db()?;
    if !can(caller.role, Action::ManageAllKeys) {
        // A member renames, revokes or tightens their own key; loosening is an admin's.
        gateway_keys::bounds(&d1, &scope(caller), id)
            .await?
            .ok_or_else(|| not_found(id))?
            .check_tightening(&input.change())?;
    }
    let change = (&fields(&input), input.enabled);
    let hash = gateway_keys::update(&d1, &scope(caller), id, change, now).await?;
    cache::forget_key(&hash.ok_or_else(|| not_found(id))?);
    ok(json!({"id": id, "updated": true}))
}

async fn delete(app: &App, caller: &Caller, id: i64) -> Result<Response, GatewayError> {
    let hash = gateway_keys::delete(&app.db()?, &scope(caller), id).await?;
    cache::forget_key(&hash.ok_or_else(|| not_found(id))?);
    ok(json!({"deleted": id}))
}
