//! The admin API (`/api/…`): who may call what (`auth`, `roles::can`), then the handlers.
//! The instance admin token acts as owner in any organization (default: organization 1).
//! Answers `{"success":true,"data":…}`; errors are rendered by `shell::respond`.

use super::admin_logs::LogScope;
use super::app::{json_response, now_ms, App};
use super::{
    admin_logs, admin_providers, admin_routes, auth, gateway_keys, orgs, reencrypt, relay, users,
};
use crate::core::error::GatewayError;
use crate::core::roles::action_for;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Method, Request, Response};

pub async fn dispatch(
    req: &mut Request,
    app: &App,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    // Endpoints without a session: sign-up/in, the public invitation lookup, a key's own logs.
    match (req.method(), segments) {
        (Method::Post, ["users", "register"]) => return users::register(req, app).await,
        (Method::Post, ["users", "login"]) => return users::login(req, app).await,
        (Method::Post, ["users", "refresh"]) => return users::refresh(req, app).await,
        (Method::Get, ["invitations", token]) => return orgs::lookup_invitation(app, token).await,
        (Method::Get, ["log", "self"])
            if !auth::is_session(req) && !auth::is_admin_token(req, app) =>
        {
            // A key holder reads the logs of the key it presents; no admin token involved.
            let key = relay::authorize(req, app, now_ms()).await?;
            return admin_logs::list(req, app, key.organization_id, LogScope::Key(key.id)).await;
        }
        _ => {}
    }
    let principal = auth::authenticate(req, app).await?;
    match (req.method(), segments) {
        (Method::Get, ["users", "me"]) => return users::me(app, &principal).await,
        (Method::Post, ["users", "logout"]) => return users::logout(req, app, &principal).await,
        (Method::Post, ["maintenance", "reencrypt"]) => {
            return reencrypt::handle(app, &principal).await
        }
        (Method::Patch, ["users", id]) if *id != "me" => {
            return users::set_status(req, app, &principal, parse_id(id)?).await
        }
        (Method::Patch, ["users", "me"]) => return users::update_me(req, app, &principal).await,
        (Method::Post, ["invitations", token, "accept"]) => {
            return orgs::accept_invitation(app, &principal, token).await
        }
        (_, ["organizations", rest @ ..]) => {
            return orgs::dispatch(req, app, &principal, rest).await
        }
        _ => {}
    }
    // Everything else acts in one organization (`X-Organization-Id`) and needs the role's permission.
    let caller = auth::caller(req, app, &principal, None).await?;
    caller.require(action_for(req.method().as_ref(), segments))?;
    let org = caller.org;
    match (req.method(), segments) {
        (_, ["provider", rest @ ..]) => admin_providers::dispatch(req, app, org, rest).await,
        (_, ["jobs", rest @ ..]) => admin_providers::jobs(req.method(), app, org, rest).await,
        (_, ["agg-token" | "user-api-keys", rest @ ..]) => {
            gateway_keys::dispatch(req, app, &caller, rest).await
        }
        (_, ["route", rest @ ..]) => admin_routes::dispatch(req, app, org, rest).await,
        (Method::Get, ["log"]) => admin_logs::list(req, app, org, LogScope::Organization).await,
        (Method::Get, ["log", "self"]) => {
            admin_logs::list(req, app, org, LogScope::KeysOf(caller.user_id)).await
        }
        (Method::Get, ["dashboard"]) => admin_logs::dashboard(req, app, org).await,
        _ => Err(unknown_endpoint(&req.method(), "", segments)),
    }
}

pub(super) fn ok<T: Serialize>(data: T) -> Result<Response, GatewayError> {
    Ok(json_response(&json!({"success": true, "data": data}), 200))
}

/// The 404 for a path no handler serves; `prefix` is the handler's part after `/api/`.
pub(super) fn unknown_endpoint(method: &Method, prefix: &str, rest: &[&str]) -> GatewayError {
    GatewayError::NotFound(format!(
        "Unknown admin endpoint: {method} /api/{prefix}{}",
        rest.join("/")
    ))
}

/// The path segments after a handler's prefix, without the empty ones a trailing `/` leaves.
pub(super) fn nonempty<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    rest.iter().copied().filter(|s| !s.is_empty()).collect()
}

pub(super) fn parse_id(raw: &str) -> Result<i64, GatewayError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| GatewayError::InvalidRequest(format!("`{raw}` is not a valid id")))
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
