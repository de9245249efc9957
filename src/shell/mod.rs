//! Platform shell: the Workers entry points and request dispatch. Thin by design: handlers
//! parse, call core logic and repositories, and return; errors become responses in `respond`.

mod admin;
mod app;
mod assistant;
mod auth;
mod cache;
mod catalog;
mod cooldown_do;
mod cors;
mod db;
mod durable;
mod embeddings;
mod health;
mod http;
mod jobs;
mod panel_session;
mod plans;
mod probe;
mod reencrypt;
mod relay;
mod repo;
mod routes;
mod stream;
mod sync;
mod upstream;
mod usage_log;

use crate::core::dialect::Provider;
use crate::core::endpoint::{self, is_relay_path, Route};
use crate::core::error::{ErrorFormat, GatewayError};
use crate::core::redact::redact_secrets;
use app::App;
use worker::{event, Context, Env, Method, Request, Response, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let app = App::new(env, ctx);
    let path = req.path();
    if let Some(answer) = cors::preflight(&req, &app, &path) {
        return Ok(answer);
    }
    let origin = cors::origin(&req);
    if let Some(reason) = app::weak_secret(&app.env) {
        // Never run with a weak secret: every call says which one and why (not its value).
        worker::console_error!("refusing to serve: {reason}");
        let body = serde_json::json!({"success": false, "status": "misconfigured",
            "error": {"code": "weak_secret", "message": reason}});
        return Ok(cors::decorate(
            origin,
            &app,
            &path,
            http::json_response(&body, 500),
        ));
    }
    let format = error_format_for(&path, &req);
    let result = dispatch(req, &app, &path).await;
    Ok(cors::decorate(origin, &app, &path, respond(result, format)))
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    app::remember_outbound_policy(&env);
    jobs::run_scheduled(&event.cron(), env).await;
}

async fn dispatch(mut req: Request, app: &App, path: &str) -> Result<Response, GatewayError> {
    let method = req.method();
    if is_relay_path(path) {
        let route = endpoint::resolve(method.as_ref(), path)
            .ok_or_else(|| GatewayError::NotFound(format!("Unknown endpoint: {method} {path}")))?;
        return match route {
            Route::Relay(endpoint) => relay::handle(&mut req, app, endpoint).await,
            Route::Pinned { kind, id } => relay::handle_pinned(&mut req, app, kind, &id).await,
            Route::FileList => catalog::file_list(&req, app).await,
            Route::Models { gemini_path, model } => {
                catalog::models(&req, app, gemini_path, model.as_deref()).await
            }
            Route::BillingSubscription => catalog::billing_subscription(&req, app).await,
            Route::BillingUsage => catalog::billing_usage(&req, app).await,
        };
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["health"]) => health::handle(&req, app).await,
        (_, ["api", ..]) => admin::dispatch(&mut req, app, &segments[1..]).await,
        _ => Err(GatewayError::NotFound(format!("Not found: {path}"))),
    }
}

/// Errors are answered in the dialect of the API the request came through.
fn error_format_for(path: &str, req: &Request) -> ErrorFormat {
    let has = |name: &str| req.headers().has(name).unwrap_or(false);
    if path.starts_with("/v1beta/") || (path.starts_with("/v1/models/") && path.contains(':')) {
        ErrorFormat::Api(Provider::Gemini)
    } else if path.starts_with("/v1/messages")
        || (path.starts_with("/v1/") && has("anthropic-version"))
    {
        ErrorFormat::Api(Provider::Anthropic)
    } else if path.starts_with("/v1/models") && has("x-goog-api-key") {
        ErrorFormat::Api(Provider::Gemini)
    } else if is_relay_path(path) {
        ErrorFormat::Api(Provider::OpenAi)
    } else {
        ErrorFormat::Admin
    }
}

/// The one place an error turns into an HTTP response.
fn respond(result: Result<Response, GatewayError>, format: ErrorFormat) -> Response {
    let err = match result {
        Ok(resp) => return resp,
        Err(err) => err,
    };
    if let GatewayError::Internal(detail) = &err {
        worker::console_error!("internal error: {}", redact_secrets(detail));
    }
    let (status, body) = err.render(format);
    let mut resp = http::json_response(&body, status);
    if let Some(seconds) = err.retry_after_s() {
        let _ = resp.headers_mut().set("Retry-After", &seconds.to_string());
    }
    resp
}
