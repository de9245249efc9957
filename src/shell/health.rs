//! `GET /health`: version plus a real round trip to D1, KV and the Durable Object.

use super::app::App;
use super::http::json_response;
use super::upstream::ping_cooldown;
use crate::core::error::GatewayError;
use serde_json::json;
use worker::Response;

pub async fn handle(app: &App) -> Result<Response, GatewayError> {
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
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"d1": verdict(&d1), "kv": verdict(&kv), "durable_object": verdict(&durable_object)},
    });
    Ok(json_response(&body, if healthy { 200 } else { 503 }))
}
