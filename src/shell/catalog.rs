//! Answers the gateway computes itself for relay clients: model listings in the caller's
//! dialect, OpenAI-style billing figures for a key, and the files uploaded through it.

use super::app::App;
use super::http::json_response;
use super::relay::authorize;
use super::repo::gateway_keys::{self, KeyTotals};
use super::repo::pins;
use super::repo::usage;
use super::routes;
use crate::core::endpoint::PinKind;
use crate::core::error::GatewayError;
use crate::core::model_list::{bare_model_name, detect_shape, render_list, render_one, ListQuery};
use serde_json::json;
use worker::{Request, Response};

/// `GET /v1/models[/{model}]` and `GET /v1beta/models[/{model}]`: the models the key may use.
pub async fn models(
    req: &Request,
    app: &App,
    gemini_path: bool,
    model: Option<&str>,
) -> Result<Response, GatewayError> {
    let key = authorize(req, app, super::app::now_ms()).await?;
    let table = routes::load(app, key.organization_id).await?;
    let names: Vec<&str> = table
        .model_names()
        .into_iter()
        .filter(|m| key.check_model(m).is_ok())
        .collect();
    let headers = req.headers();
    let has = |name: &str| headers.has(name).unwrap_or(false);
    let url = req.url()?;
    let google_key = has("x-goog-api-key") || url.query_pairs().any(|(k, _)| k == "key");
    let shape = detect_shape(
        gemini_path,
        has("x-api-key") && has("anthropic-version"),
        google_key,
    );
    let body = match model {
        Some(model) => {
            let model = bare_model_name(model);
            if !names.contains(&model) {
                return Err(GatewayError::ModelNotFound(model.to_string()));
            }
            render_one(shape, model, table.built_at)
        }
        None => {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let query = ListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            render_list(shape, &names, &query, table.built_at)
        }
    };
    Ok(json_response(&body, 200))
}

/// What New API and One API answer to `/dashboard/billing/*`: a "hard limit" from the key's
/// cost limit (100,000,000 when unlimited, as they do) and the usage in cents.
async fn key_totals(app: &App, req: &Request) -> Result<KeyTotals, GatewayError> {
    let key = authorize(req, app, super::app::now_ms()).await?;
    if key.id == 0 {
        // PROXY_TOKEN: the whole organization's spend.
        return Ok(KeyTotals {
            cost_limit_usd: None,
            used_cost_usd: usage::organization_spend(&app.db()?, key.organization_id).await?,
            expires_at: None,
        });
    }
    gateway_keys::totals(&app.db()?, key.organization_id, key.id)
        .await?
        .ok_or_else(|| GatewayError::Unauthorized("Invalid API key".into()))
}

pub async fn billing_subscription(req: &Request, app: &App) -> Result<Response, GatewayError> {
    let totals = key_totals(app, req).await?;
    let limit = totals.cost_limit_usd.unwrap_or(100_000_000.0);
    Ok(json_response(
        &json!({
            "object": "billing_subscription",
            "has_payment_method": true,
            "soft_limit_usd": limit,
            "hard_limit_usd": limit,
            "system_hard_limit_usd": limit,
            "access_until": totals.expires_at.map_or(0, |ms| ms / 1000),
        }),
        200,
    ))
}

pub async fn billing_usage(req: &Request, app: &App) -> Result<Response, GatewayError> {
    let totals = key_totals(app, req).await?;
    Ok(json_response(
        &json!({"object": "list", "total_usage": (totals.used_cost_usd * 100.0 * 1e6).round() / 1e6}),
        200,
    ))
}

/// `GET /v1/files`: the files the organization uploaded through the gateway, on any station.
pub async fn file_list(req: &Request, app: &App) -> Result<Response, GatewayError> {
    let key = authorize(req, app, super::app::now_ms()).await?;
    let owner = pins::Owner {
        org: key.organization_id,
        gateway_key_id: key.id,
        user_id: key.user_id,
    };
    let files = pins::list(&app.env, owner, PinKind::File).await?;
    Ok(json_response(
        &json!({"object": "list", "data": files, "has_more": false}),
        200,
    ))
}
