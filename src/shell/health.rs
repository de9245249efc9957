//! `GET /health`: a real round trip to D1, KV and the Durable Object. Without the admin token
//! the answer is only `ok` / `degraded`; the version and each check's error need the token.

use super::app::App;
use super::auth::is_admin_token;
use super::http::json_response;
use super::upstream::ping_cooldown;
use crate::core::error::GatewayError;
use serde_json::json;
use worker::{Request, Response};

pub async fn handle(req: &Request, app: &App) -> Result<Response, GatewayError> {
    let d1 = match app.db() {
        Ok(db) => db
            .prepare("SELECT COUNT(*) AS n FROM organizations")
            .first::<serde_json::Value>(None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let kv = match app.kv() {
        Ok(kv) => kv
            .get("health:probe")
            .text()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let durable_object = match ping_cooldown(&app.env).await {
        Ok(reply) if reply == "pong" => Ok(()),
        Ok(reply) => Err(format!("unexpected reply {reply:?}")),
        Err(e) => Err(e.to_string()),
    };
    let verdict = |r: &Result<(), String>| match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    let healthy = d1.is_ok() && kv.is_ok() && durable_object.is_ok();
    let status = if healthy { 200 } else { 503 };
    if !is_admin_token(req, app) {
        return Ok(json_response(
            &json!({"status": if healthy { "ok" } else { "degraded" }}),
            status,
        ));
    }
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"d1": verdict(&d1), "kv": verdict(&kv), "durable_object": verdict(&durable_object)},
    });
    Ok(json_response(&body, status))
}
