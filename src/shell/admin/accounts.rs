//! A station's accounts (`/api/provider/:id/accounts…`): list, create, edit, delete, enable
//! and disable. Credentials are sealed before D1 and never returned.

use crate::core::error::GatewayError;
use crate::core::station::{AccountChange, AccountInput};
use crate::shell::app::{credential_aad, now_ms, seal_json, App};
use crate::shell::http::{created, json_body, ok, parse_id, unknown_endpoint};
use crate::shell::plans::org_limits;
use crate::shell::repo::accounts::{self, AccountView, NewAccount, SealedCredential};
use crate::shell::repo::stations;
use crate::shell::routes;
use crate::shell::sync::station_platform;
use serde_json::json;
use worker::{D1Database, Method, Request, Response};

/// `/api/provider/:id/accounts…`; `rest` is the path after `provider` (`[id, "accounts", …]`).
pub async fn dispatch(
    req: &mut Request,
    app: &App,
    org: i64,
    station_id: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    match (req.method(), &rest[2..]) {
        (Method::Get, []) => {
            let d1 = app.db()?;
            stations::require(&d1, org, station_id).await?;
            ok(accounts::views(&d1, org, station_id).await?)
        }
        (Method::Post, []) => create_account(req, app, org, station_id).await,
        (_, [aid, ..]) => {
            let account = AccountAt {
                org,
                station_id,
                id: parse_id(aid)?,
            };
            account_endpoint(req, app, account, rest).await
        }
        (method, _) => Err(unknown_endpoint(&method, "provider/", rest)),
    }
}

/// An account body validated against its station's platform (`new`: a credential is required).
async fn account_input(
    req: &mut Request,
    d1: &D1Database,
    org: i64,
    station_id: i64,
    new: bool,
) -> Result<AccountChange, GatewayError> {
    let platform = station_platform(&stations::require(d1, org, station_id).await?)?;
    json_body::<AccountInput>(req)
        .await?
        .validate(platform, new)
}

async fn create_account(
    req: &mut Request,
    app: &App,
    org: i64,
    station_id: i64,
) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let change = account_input(req, &d1, org, station_id, true).await?;
    let credential = change
        .credential
        .ok_or_else(|| GatewayError::Internal("validated account without credential".into()))?;
    let sb = app.secret_box()?;
    let seal = |account| seal_json(&sb, &credential, &credential_aad(org, account));
    let name = change.name.unwrap_or_default();
    let account = NewAccount {
        name: &name,
        kind: credential.kind().as_str(),
        seal: &seal,
        panel_user_id: credential.user_id(),
        checkin_enabled: change.checkin_enabled.unwrap_or(false),
    };
    let limits = org_limits(&d1, org).await?;
    let id = accounts::insert(&d1, org, station_id, &account, now_ms(), limits).await?;
    created(accounts::view(&d1, org, station_id, id).await?)
}

/// One account of one station in an organization, as its endpoints address it.
#[derive(Clone, Copy)]
struct AccountAt {
    org: i64,
    station_id: i64,
    id: i64,
}

/// `/api/provider/:id/accounts/:aid[/enable|/disable]` (`rest`: the path after `provider`).
/// Each needs the account to exist on that station first.
async fn account_endpoint(
    req: &mut Request,
    app: &App,
    at: AccountAt,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let current = accounts::view(&d1, at.org, at.station_id, at.id).await?;
    match (req.method(), &rest[3..]) {
        (Method::Put, []) => update_account(req, app, &d1, at, current).await,
        (Method::Delete, []) => delete_account(app, &d1, at).await,
        (Method::Post, [switch @ ("enable" | "disable")]) => {
            apply_enabled(app, at.org, at.id, *switch == "enable").await?;
            ok(accounts::view(&d1, at.org, at.station_id, at.id).await?)
        }
        (method, _) => Err(unknown_endpoint(&method, "provider/", rest)),
    }
}

async fn update_account(
    req: &mut Request,
    app: &App,
    d1: &D1Database,
    at: AccountAt,
    current: AccountView,
) -> Result<Response, GatewayError> {
    let AccountAt {
        org,
        station_id,
        id,
    } = at;
    let change = account_input(req, d1, org, station_id, false).await?;
    let sealed = match &change.credential {
        Some(credential) => Some(SealedCredential {
            kind: credential.kind().as_str(),
            sealed: seal_json(&*app.secret_box()?, credential, &credential_aad(org, id))?,
            panel_user_id: credential.user_id(),
        }),
        None => None,
    };
    let name = change.name.as_deref().unwrap_or(&current.name);
    let checkin = change
        .checkin_enabled
        .map_or(current.checkin_enabled, i64::from);
    accounts::update(d1, org, id, (name, checkin), sealed, now_ms()).await?;
    if let Some(enabled) = change.enabled {
        apply_enabled(app, org, id, enabled).await?;
    }
    ok(accounts::view(d1, org, station_id, id).await?)
}

async fn delete_account(
    app: &App,
    d1: &D1Database,
    AccountAt { org, id, .. }: AccountAt,
) -> Result<Response, GatewayError> {
    accounts::delete(d1, org, id).await?;
    routes::publish(&app.env, org).await?;
    ok(json!({"deleted": id}))
}

/// Disabling takes the account's keys and channels out of the route table (the route query
/// joins `accounts.enabled`); re-enabling puts the same channels back, settings intact.
async fn apply_enabled(app: &App, org: i64, id: i64, enabled: bool) -> Result<(), GatewayError> {
    accounts::set_enabled(&app.db()?, org, id, enabled, now_ms()).await?;
    routes::publish(&app.env, org).await.map(|_| ())
}
