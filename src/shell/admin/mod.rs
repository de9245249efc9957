//! The admin API (`/api/…`): who may call what (`auth`, `roles::can`), then the handlers.
//! The instance admin token acts as owner in any organization (default: organization 1).
//! Answers `{"success":true,"data":…}`; errors are rendered by `shell::respond`.

mod accounts;
mod assistant;
mod channels;
mod jobs;
mod keys;
mod logs;
mod organizations;
mod routes;
mod stations;
mod users;

use super::app::{now_ms, App};
use super::http::{parse_id, unknown_endpoint};
use super::{auth, reencrypt, relay};
use crate::core::error::GatewayError;
use crate::core::roles::action_for;
use logs::LogScope;
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
        (Method::Get, ["invitations", token]) => {
            return organizations::lookup_invitation(app, token).await
        }
        (Method::Get, ["log", "self"])
            if !auth::is_session(req) && !auth::is_admin_token(req, app) =>
        {
            // A key holder reads the logs of the key it presents; no admin token involved.
            let key = relay::authorize(req, app, now_ms()).await?;
            return logs::list(req, app, key.organization_id, LogScope::Key(key.id)).await;
        }
        _ => {}
    }
    let principal = auth::authenticate(req, app).await?;
    match (req.method(), segments) {
        (Method::Get, ["users", "me"]) => return users::me(app, &principal).await,
        (Method::Post, ["users", "logout"]) => return users::logout(req, app, &principal).await,
        (Method::Patch, ["users", id]) if *id != "me" => {
            return users::set_status(req, app, &principal, parse_id(id)?).await
        }
        (Method::Post, ["maintenance", "reencrypt"]) => {
            return reencrypt::handle(app, &principal).await
        }
        (Method::Patch, ["users", "me"]) => return users::update_me(req, app, &principal).await,
        (Method::Post, ["invitations", token, "accept"]) => {
            return organizations::accept_invitation(app, &principal, token).await
        }
        (_, ["organizations", rest @ ..]) => {
            return organizations::dispatch(req, app, &principal, rest).await
        }
        _ => {}
    }
    // Everything else acts in one organization (`X-Organization-Id`) and needs the role's permission.
    let caller = auth::caller(req, app, &principal, None).await?;
    caller.require(action_for(req.method().as_ref(), segments))?;
    let org = caller.org;
    match (req.method(), segments) {
        (Method::Get, ["dashboard", "keys"]) => logs::usage_by_key(req, app, org).await,
        (_, ["provider", _, "dialects", ..] | ["provider", _, "tokens", _, "enable"]) => {
            channels::dispatch(req, app, org, &segments[1..]).await
        }
        (_, ["provider", rest @ ..]) => stations::dispatch(req, app, org, rest).await,
        (_, ["jobs", rest @ ..]) => jobs::dispatch(req.method(), app, org, rest).await,
        (_, ["agg-token" | "user-api-keys", rest @ ..]) => {
            keys::dispatch(req, app, &caller, rest).await
        }
        (Method::Get, ["route", "pins"]) => channels::list_pins(req, app, org).await,
        (_, ["route", rest @ ..]) => routes::dispatch(req, app, org, rest).await,
        (_, ["assistant", rest @ ..]) => assistant::dispatch(req, app, &caller, rest).await,
        (Method::Get, ["log"]) => logs::list(req, app, org, LogScope::Organization).await,
        (Method::Get, ["log", "self"]) => {
            logs::list(req, app, org, LogScope::KeysOf(caller.user_id)).await
        }
        (Method::Get, ["dashboard"]) => logs::dashboard(req, app, org).await,
        _ => Err(unknown_endpoint(&req.method(), "", segments)),
    }
}
