//! Stations (`/api/provider/…`): create, edit, delete, their upstream keys, sync, check-in,
//! balance and check-in history, and platform detection; `…/accounts` goes to `accounts`.
//! Organization-scoped; credentials are sealed before D1 and never returned.

use super::accounts;
use crate::core::error::GatewayError;
use crate::core::panels::credential::Credential;
use crate::core::panels::detect::{detect, DetectStep, ProbeAnswer};
use crate::core::panels::relay_paths::DialectRoute;
use crate::core::platform::Platform;
use crate::core::schedule::{balance_trend, utc_day, Snapshot};
use crate::core::station::{
    normalize_base_url, AccountInput, CredentialInput, NewStationInput, StationUpdate,
};
use crate::shell::app::{credential_aad, now_ms, outbound_policy, seal_json, App};
use crate::shell::http::{created, json_body, nonempty, ok, parse_id, unknown_endpoint};
use crate::shell::jobs::{checkin_account, station_state};
use crate::shell::plans::org_limits;
use crate::shell::repo::accounts::NewAccount;
use crate::shell::repo::stations::StationView;
use crate::shell::repo::{accounts as account_rows, history, stations, upstream_keys};
use crate::shell::routes;
use crate::shell::sync::station_platform;
use crate::shell::sync::sync_station;
use crate::shell::upstream::send_panel;
use serde::Deserialize;
use serde_json::json;
use worker::{Method, Request, Response};

/// Probes `POST /api/provider/detect` may make (detect needs at most three).
const MAX_DETECT_PROBES: usize = 4;

/// `/api/provider/…`; `rest` is the path after `provider`.
pub async fn dispatch(
    req: &mut Request,
    app: &App,
    org: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let rest = nonempty(rest);
    match (req.method(), rest.as_slice()) {
        (Method::Get, []) => ok(stations::list(&app.db()?, org).await?),
        (Method::Post, []) => create_station(req, app, org).await,
        (Method::Post, ["detect"]) => detect_platform(req).await,
        (Method::Put, []) => update_station(req, app, org, None).await,
        (Method::Put, [id]) => update_station(req, app, org, Some(parse_id(id)?)).await,
        (Method::Get, [id]) => {
            let id = parse_id(id)?;
            let d1 = app.db()?;
            let station = stations::require(&d1, org, id).await?;
            let accounts = account_rows::views(&d1, org, id).await?;
            ok(json!({"station": station, "accounts": accounts}))
        }
        (Method::Delete, [id]) => delete_station(app, org, parse_id(id)?).await,
        (Method::Post, [id, "sync"]) => ok(sync_station(&app.env, org, parse_id(id)?).await?),
        (Method::Post, [id, "checkin"]) => checkin_station(app, org, parse_id(id)?).await,
        (Method::Get, [id, "models"]) => {
            let (d1, id) = (app.db()?, parse_id(id)?);
            stations::require(&d1, org, id).await?;
            ok(stations::models(&d1, org, id).await?)
        }
        (Method::Get, [id, "tokens"]) => {
            let (d1, id) = (app.db()?, parse_id(id)?);
            stations::require(&d1, org, id).await?;
            ok(upstream_keys::views(&d1, org, id).await?)
        }
        (_, [id, "accounts", ..]) => accounts::dispatch(req, app, org, parse_id(id)?, &rest).await,
        (Method::Get, [id, "balance-history"]) => balance_history(app, org, parse_id(id)?).await,
        (Method::Get, [id, "checkins"]) => {
            let (d1, id) = (app.db()?, parse_id(id)?);
            stations::require(&d1, org, id).await?;
            ok(history::station_checkins(&d1, org, id).await?)
        }
        _ => Err(unknown_endpoint(&req.method(), "provider/", &rest)),
    }
}

/// The SSRF guard (`core::outbound`) on a station's base URL and on it under each dialect prefix.
fn check_station_urls(
    req: &Request,
    base_url: &str,
    dialects: Option<&[DialectRoute]>,
) -> Result<(), GatewayError> {
    let own_host = req.headers().get("Host").ok().flatten();
    let policy = outbound_policy();
    policy.check(base_url, own_host.as_deref())?;
    for route in dialects.into_iter().flatten() {
        policy.check(&format!("{base_url}{}", route.prefix), own_host.as_deref())?;
    }
    Ok(())
}

async fn create_station(req: &mut Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let station = json_body::<NewStationInput>(req).await?.validate()?;
    check_station_urls(req, &station.base_url, station.dialects.as_deref())?;
    let sb = app.secret_box()?;
    let seal = |account| seal_json(&sb, &station.credential, &credential_aad(org, account));
    let d1 = app.db()?;
    let limits = org_limits(&d1, org).await?;
    let id = stations::insert(&d1, org, &station, &seal, now_ms(), limits).await?;
    created(stations::require(&d1, org, id).await?)
}

/// A base URL change must bring the credential for the new host (else 409): it is validated
/// against the station's platform and replaces the station's accounts.
fn new_host_credential(
    current: &StationView,
    credential: CredentialInput,
) -> Result<Credential, GatewayError> {
    let platform = station_platform(current)?;
    let change = AccountInput {
        credential,
        ..AccountInput::default()
    }
    .validate(platform, false)?;
    change.credential.ok_or_else(|| {
        GatewayError::Conflict(
            "changing `base_url` needs the station's credential again in the same request (e.g. `access_token` and `user_id`): \
             stored credentials and keys are never sent to a new host, and the station's accounts are replaced"
                .into(),
        )
    })
}

async fn update_station(
    req: &mut Request,
    app: &App,
    org: i64,
    path_id: Option<i64>,
) -> Result<Response, GatewayError> {
    let body: serde_json::Value = json_body(req).await?;
    let parse = |e: serde_json::Error| GatewayError::MalformedJson(format!("station update: {e}"));
    let input: StationUpdate = serde_json::from_value(body.clone()).map_err(parse)?;
    // Only read with a new base URL: the credential for the new host.
    let credential: CredentialInput = serde_json::from_value(body).map_err(parse)?;
    let Some(id) = path_id.or(input.id) else {
        return Err(GatewayError::InvalidRequest("`id` is required".into()));
    };
    let d1 = app.db()?;
    let current = stations::require(&d1, org, id).await?;
    let settings = input.apply(current.settings())?;
    check_station_urls(req, &settings.base_url, settings.dialects.as_deref())?;
    let moved_to = (settings.base_url != current.base_url)
        .then(|| new_host_credential(&current, credential))
        .transpose()?;
    let now = now_ms();
    stations::update(&d1, org, id, &settings, now, moved_to.is_some()).await?;
    if let Some(credential) = moved_to {
        let sb = app.secret_box()?;
        let seal = |account| seal_json(&sb, &credential, &credential_aad(org, account));
        let account = NewAccount {
            name: &settings.name,
            kind: credential.kind().as_str(),
            seal: &seal,
            panel_user_id: credential.user_id(),
            checkin_enabled: settings.checkin_enabled,
        };
        let limits = org_limits(&d1, org).await?;
        account_rows::insert(&d1, org, id, &account, now, limits).await?;
    }
    routes::publish(&app.env, org).await?;
    ok(stations::require(&d1, org, id).await?)
}

async fn delete_station(app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    stations::require(&d1, org, id).await?;
    stations::delete(&d1, org, id).await?;
    routes::publish(&app.env, org).await?;
    ok(json!({"deleted": id}))
}

async fn checkin_station(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let mut station = station_state(&d1, org, station_id).await?;
    let accounts: Vec<_> = account_rows::of_station(&d1, org, station_id)
        .await?
        .into_iter()
        .filter(|a| a.enabled != 0)
        .collect();
    let sb = app.secret_box()?;
    let now = now_ms();
    let day = utc_day(now);
    let mut records = Vec::new();
    for account in &accounts {
        let done = checkin_account(&d1, &sb, &mut station, account, &day, true, now).await?;
        let record = match done {
            Some(record) => record,
            // Already handled today: answer with the day's record.
            None => history::checkin_of_day(&d1, org, account.id, &day)
                .await?
                .ok_or_else(|| GatewayError::Internal("check-in record vanished".into()))?,
        };
        records.push(record);
    }
    ok(records)
}

/// Per account: snapshots oldest first, with spend and income between them.
async fn balance_history(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    stations::require(&d1, org, station_id).await?;
    let mut rows = history::station_snapshots(&d1, org, station_id).await?;
    rows.reverse();
    let mut accounts: Vec<i64> = rows.iter().map(|r| r.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let history: Vec<serde_json::Value> = accounts
        .into_iter()
        .map(|account_id| {
            let snapshots: Vec<Snapshot> = rows
                .iter()
                .filter(|r| r.account_id == account_id)
                .map(|r| Snapshot {
                    taken_at: r.taken_at,
                    balance_usd: r.balance_usd,
                    used_usd: r.used_usd,
                    estimated: r.estimated != 0,
                })
                .collect();
            json!({"account_id": account_id, "points": balance_trend(&snapshots)})
        })
        .collect();
    ok(history)
}

#[derive(Deserialize)]
struct DetectInput {
    base_url: Option<String>,
}

/// Probes the base URL (status, Sub2API settings, models list) until the field rules decide.
async fn detect_platform(req: &mut Request) -> Result<Response, GatewayError> {
    let input: DetectInput = json_body(req).await?;
    let base_url = normalize_base_url(input.base_url.as_deref().unwrap_or_default())?;
    check_station_urls(req, &base_url, None)?;
    let mut answers = Vec::new();
    for _ in 0..MAX_DETECT_PROBES {
        match detect(&base_url, &answers) {
            DetectStep::Done(d) => {
                return ok(json!({
                    "base_url": base_url,
                    "platform": d.platform.map(Platform::as_str),
                    "evidence": d.evidence,
                }))
            }
            DetectStep::Probe(probe) => {
                let (status, body) = match send_panel(&base_url, &probe).await {
                    Ok(resp) => (resp.status, resp.body),
                    Err(e) => (0, e.to_string()),
                };
                answers.push(ProbeAnswer {
                    path: probe.path,
                    status,
                    body,
                });
            }
        }
    }
    ok(
        json!({"base_url": base_url, "platform": null, "evidence": "no rule matched within the probe limit"}),
    )
}
