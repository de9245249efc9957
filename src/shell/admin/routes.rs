//! Admin route management (`/api/route/…`): list with cooldown state, per-model summary,
//! edit weight/priority/enabled/upstream model, aliases, rebuild, cooldown clear. Every edit
//! republishes the organization's route table to KV and the isolate.

use crate::core::error::GatewayError;
use crate::shell::app::{now_ms, App};
use crate::shell::http::{created, json_body, ok, parse_id, unknown_endpoint};
use crate::shell::repo::route_entries::{self, NewAlias, RouteChange};
use crate::shell::repo::upstream_keys;
use crate::shell::{routes, upstream};
use serde::Deserialize;
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
            if !route_entries::exists(&app.db()?, org, id).await? {
                return Err(GatewayError::NotFound(format!("route {id} not found")));
            }
            upstream::clear_cooldown(&app.env, org, Some(id)).await?;
            ok(json!({"cleared": true}))
        }
        _ => Err(unknown_endpoint(&req.method(), "route/", segments)),
    }
}

async fn list(app: &App, org: i64) -> Result<Response, GatewayError> {
    let mut routes = route_entries::views(&app.db()?, org).await?;
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

/// Client-facing models with how many channels serve each (and how many can serve now).
async fn models(app: &App, org: i64) -> Result<Response, GatewayError> {
    ok(route_entries::model_summaries(&app.db()?, org).await?)
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
    let edit = RouteChange {
        weight: change.weight,
        priority: change.priority,
        enabled: change.enabled,
        upstream_model: change.upstream_model.as_deref().map(str::trim),
    };
    if !route_entries::update(&app.db()?, org, id, &edit, now_ms()).await? {
        return Err(GatewayError::NotFound(format!("route {id} not found")));
    }
    routes::publish(&app.env, org).await?;
    ok(json!({"id": id, "updated": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasInput {
    model: String,
    upstream_model: String,
    upstream_key_id: i64,
    priority: Option<i64>,
    weight: Option<i64>,
}

/// An alias: clients ask for `model`, the key's station is sent `upstream_model`.
async fn create_alias(req: &mut Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let alias: AliasInput = json_body(req).await?;
    let (model, upstream_model) = (alias.model.trim(), alias.upstream_model.trim());
    if model.is_empty() || upstream_model.is_empty() {
        return Err(GatewayError::InvalidRequest(
            "`model` and `upstream_model` are required".into(),
        ));
    }
    let d1 = app.db()?;
    let new = NewAlias {
        model,
        upstream_model,
        upstream_key_id: alias.upstream_key_id,
        priority: alias.priority.unwrap_or(0),
        weight: alias.weight.unwrap_or(10).clamp(0, 10_000),
    };
    let Some(id) = route_entries::insert_alias(&d1, org, &new, now_ms()).await? else {
        let key = alias.upstream_key_id;
        return Err(match upstream_keys::exists(&d1, org, key).await? {
            false => GatewayError::NotFound(format!("upstream key {key} not found")),
            true => {
                GatewayError::Conflict(format!("`{model}` already routes to upstream key {key}"))
            }
        });
    };
    routes::publish(&app.env, org).await?;
    created(json!({"id": id}))
}

/// Re-creates missing route entries from every station's models and active keys, drops
/// sync-made entries that lost their model or key, and republishes the table.
async fn rebuild(app: &App, org: i64) -> Result<Response, GatewayError> {
    route_entries::rebuild(&app.db()?, org, now_ms()).await?;
    let table = routes::publish(&app.env, org).await?;
    let channels: usize = table.models.values().map(Vec::len).sum();
    ok(json!({"models": table.models.len(), "channels": channels, "built_at": table.built_at}))
}
