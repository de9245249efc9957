//! Admin API for stations (`/api/provider/…`): stations, their accounts, keys, sync, check-in,
//! balance and check-in history, detection; and jobs (`/api/jobs…`). Organization-scoped;
//! credentials are sealed before D1 and never returned.

use super::admin::{json_body, nonempty, ok, parse_id, unknown_endpoint};
use super::app::{credential_aad, json_response, now_ms, outbound_policy, App};
use super::db::{self, num, AccountRow, NewAccount};
use super::jobs::{checkin_account, run_job, station_state, CheckinRecord};
use super::plans::org_limits;
use super::routes;
use super::sync::{station_platform, sync_station};
use super::upstream::send_panel;
use crate::core::crypto::SecretBox;
use crate::core::error::GatewayError;
use crate::core::panels::credential::Credential;
use crate::core::panels::detect::{detect, DetectStep, ProbeAnswer};
use crate::core::panels::relay_paths::{parse_override, stored_override, DialectRoute};
use crate::core::schedule::{balance_trend, utc_day, JobKind, Snapshot};
use crate::core::station::{
    normalize_base_url, AccountChange, AccountInput, CredentialInput, NewStationInput, Platform,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{D1Database, Method, Request, Response};

/// Probes `POST /api/provider/detect` may make (detect needs at most three).
const MAX_DETECT_PROBES: usize = 4;
/// Rows the history endpoints return at most.
const HISTORY_LIMIT: i64 = 500;

/// `/api/provider/…`; `rest` is the path after `provider`.
pub async fn dispatch(
    req: &mut Request,
    app: &App,
    org: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let rest = nonempty(rest);
    match (req.method(), rest.as_slice()) {
        (Method::Get, []) => ok(db::list_stations(&app.db()?, org).await?),
        (Method::Post, []) => create_station(req, app, org).await,
        (Method::Post, ["detect"]) => detect_platform(req).await,
        (Method::Put, []) => update_station(req, app, org, None).await,
        (Method::Put, [id]) => update_station(req, app, org, Some(parse_id(id)?)).await,
        (Method::Get, [id]) => {
            let id = parse_id(id)?;
            let d1 = app.db()?;
            let station = station_view(&d1, org, id).await?;
            let accounts = db::account_views(&d1, org, id).await?;
            ok(json!({"station": station, "accounts": accounts}))
        }
        (Method::Delete, [id]) => delete_station(app, org, parse_id(id)?).await,
        (Method::Post, [id, "sync"]) => ok(sync_station(&app.env, org, parse_id(id)?).await?),
        (Method::Post, [id, "checkin"]) => checkin_station(app, org, parse_id(id)?).await,
        (Method::Get, [id, "tokens"]) => list_keys(app, org, parse_id(id)?).await,
        (Method::Get, [id, "accounts"]) => {
            let id = parse_id(id)?;
            let d1 = app.db()?;
            station_view(&d1, org, id).await?;
            ok(db::account_views(&d1, org, id).await?)
        }
        (Method::Post, [id, "accounts"]) => create_account(req, app, org, parse_id(id)?).await,
        (_, [id, "accounts", aid, ..]) => {
            let account = AccountAt {
                org,
                station_id: parse_id(id)?,
                id: parse_id(aid)?,
            };
            account_endpoint(req, app, account, &rest).await
        }
        (Method::Get, [id, "balance-history"]) => balance_history(app, org, parse_id(id)?).await,
        (Method::Get, [id, "checkins"]) => checkin_history(app, org, parse_id(id)?).await,
        _ => Err(unknown_endpoint(&req.method(), "provider/", &rest)),
    }
}

/// `/api/jobs…`: `GET /api/jobs` (runs), `POST /api/jobs/:kind/run`.
pub async fn jobs(
    method: Method,
    app: &App,
    org: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let rest = nonempty(rest);
    match (&method, rest.as_slice()) {
        (Method::Get, []) => list_job_runs(app, org).await,
        (Method::Post, [kind, "run"]) => {
            let kind = JobKind::parse(kind).ok_or_else(|| {
                GatewayError::InvalidRequest(format!(
                    "unknown job `{kind}`; one of sync, balance, checkin"
                ))
            })?;
            ok(run_job(&app.env, kind, Some(org)).await?)
        }
        _ => Err(unknown_endpoint(&method, "jobs/", &rest)),
    }
}

async fn station_view(d1: &D1Database, org: i64, id: i64) -> Result<db::StationView, GatewayError> {
    db::get_station(d1, org, id)
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("station {id} not found")))
}

/// The account's credential sealed for its row.
fn seal_credential(
    sb: &SecretBox,
    credential: &Credential,
    org: i64,
    account_id: i64,
) -> Result<String, GatewayError> {
    let json = serde_json::to_string(credential)
        .map_err(|e| GatewayError::Internal(format!("credential encoding: {e}")))?;
    Ok(sb.seal(&json, &credential_aad(org, account_id))?)
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
    let seal = |account| seal_credential(&sb, &station.credential, org, account);
    let d1 = app.db()?;
    let limits = org_limits(&d1, org).await?;
    let id = db::insert_station(&d1, org, &station, &seal, now_ms(), limits).await?;
    let view = station_view(&d1, org, id).await?;
    Ok(json_response(&json!({"success": true, "data": view}), 201))
}

#[derive(Deserialize)]
struct StationUpdate {
    id: Option<i64>,
    name: Option<String>,
    base_url: Option<String>,
    weight: Option<i64>,
    priority: Option<i64>,
    enabled: Option<bool>,
    checkin_enabled: Option<bool>,
    /// Absent: unchanged; `null`: back to the platform's defaults; a list: the override.
    #[serde(default, deserialize_with = "present")]
    dialects: Option<serde_json::Value>,
    /// Required with a new `base_url`: the credential for the new host, which replaces every
    /// account of the station (no stored credential or key is ever sent to another host).
    #[serde(flatten)]
    credential: CredentialInput,
}

/// Keeps a field's presence: `Some(Value::Null)` for an explicit `null`, `None` when absent.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

async fn update_station(
    req: &mut Request,
    app: &App,
    org: i64,
    path_id: Option<i64>,
) -> Result<Response, GatewayError> {
    let input: StationUpdate = json_body(req).await?;
    let bad = |m: &str| Err(GatewayError::InvalidRequest(m.to_string()));
    let Some(id) = path_id.or(input.id) else {
        return bad("`id` is required");
    };
    let d1 = app.db()?;
    let current = station_view(&d1, org, id).await?;
    let name = input
        .name
        .map_or_else(|| current.name.clone(), |n| n.trim().to_string());
    if name.is_empty() || name.chars().count() > 100 {
        return bad("`name` must be 1–100 characters");
    }
    let base_url = match input.base_url {
        Some(url) => normalize_base_url(&url)?,
        None => current.base_url.clone(),
    };
    let weight = input.weight.unwrap_or(current.weight);
    if !(0..=1000).contains(&weight) {
        return bad("`weight` must be between 0 and 1000");
    }
    let priority = input.priority.unwrap_or(current.priority);
    if !(-1000..=1000).contains(&priority) {
        return bad("`priority` must be between -1000 and 1000");
    }
    let dialects = match &input.dialects {
        Some(value) => parse_override(value)?,
        None => current.dialects.clone(),
    };
    check_station_urls(req, &base_url, dialects.as_deref())?;
    let moved_to = (base_url != current.base_url)
        .then(|| new_host_credential(&current, input.credential))
        .transpose()?;
    let dialects = stored_override(dialects.as_deref())?;
    let flag = |v: Option<bool>, old: i64| v.map_or(old, i64::from);
    let now = now_ms();
    let clash: Option<db::IdRow> = db::first(
        &d1,
        "SELECT id FROM stations WHERE organization_id = ?1 AND name = ?2 AND id <> ?3",
        &[num(org), name.as_str().into(), num(id)],
    )
    .await?;
    if clash.is_some() {
        return Err(GatewayError::Conflict(format!(
            "a station named `{name}` already exists"
        )));
    }
    let mut statements = match &moved_to {
        // The old host's accounts, keys and channels go in the same batch as the new URL.
        Some(_) => station_account_data(&d1, org, id)?,
        None => Vec::new(),
    };
    statements.extend([
            db::stmt(
                &d1,
                "UPDATE stations SET name = ?1, base_url = ?2, weight = ?3, priority = ?4, enabled = ?5, checkin_enabled = ?6, updated_at = ?7, dialects = ?10 \
                 WHERE organization_id = ?8 AND id = ?9",
                &[name.as_str().into(), base_url.as_str().into(), num(weight), num(priority), num(flag(input.enabled, current.enabled)),
                  num(flag(input.checkin_enabled, current.checkin_enabled)), num(now), num(org), num(id), db::opt_str(dialects.as_deref())],
            )?,
            // Channels sync made follow the station's defaults; entries an admin edited keep theirs.
            db::stmt(
                &d1,
                "UPDATE route_entries SET weight = ?1, priority = ?2, updated_at = ?3 WHERE organization_id = ?4 AND station_id = ?5 AND manual = 0",
                &[num(weight), num(priority), num(now), num(org), num(id)],
            )?,
    ]);
    db::batch(&d1, statements).await?;
    if let Some(credential) = moved_to {
        let sb = app.secret_box()?;
        let seal = |account| seal_credential(&sb, &credential, org, account);
        let account = NewAccount {
            name: &name,
            kind: credential.kind().as_str(),
            seal: &seal,
            panel_user_id: credential.user_id(),
            checkin_enabled: current.checkin_enabled != 0,
        };
        let limits = org_limits(&d1, org).await?;
        db::insert_account(&d1, org, id, &account, now, limits).await?;
    }
    routes::publish(&app.env, org).await?;
    ok(station_view(&d1, org, id).await?)
}

/// Statements that delete everything hanging off the accounts matched by `scope` (a constant
/// condition on `account_id` with ?1 = organization and ?2 = the station or account id).
fn delete_account_data(
    d1: &D1Database,
    org: i64,
    id: i64,
    scope: &str,
) -> Result<Vec<worker::D1PreparedStatement>, GatewayError> {
    let args = [num(org), num(id)];
    [
        "DELETE FROM route_entries WHERE organization_id = ?1 AND upstream_key_id IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND {scope})",
        "DELETE FROM upstream_keys WHERE organization_id = ?1 AND {scope}",
        "DELETE FROM balance_snapshots WHERE organization_id = ?1 AND {scope}",
        "DELETE FROM checkin_records WHERE organization_id = ?1 AND {scope}",
    ]
    .iter()
    .map(|sql| db::stmt(d1, &sql.replace("{scope}", scope), &args))
    .collect()
}

/// A base URL change must bring the credential for the new host (else 409): it is validated
/// against the station's platform and replaces the station's accounts.
fn new_host_credential(
    current: &db::StationView,
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

/// Statements that delete every account of a station with its keys, channels and history.
fn station_account_data(
    d1: &D1Database,
    org: i64,
    id: i64,
) -> Result<Vec<worker::D1PreparedStatement>, GatewayError> {
    let mut statements = delete_account_data(
        d1,
        org,
        id,
        "account_id IN (SELECT id FROM accounts WHERE organization_id = ?1 AND station_id = ?2)",
    )?;
    for sql in [
        "DELETE FROM route_entries WHERE organization_id = ?1 AND station_id = ?2",
        "DELETE FROM accounts WHERE organization_id = ?1 AND station_id = ?2",
    ] {
        statements.push(db::stmt(d1, sql, &[num(org), num(id)])?);
    }
    Ok(statements)
}

async fn delete_station(app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    station_view(&d1, org, id).await?;
    let mut statements = station_account_data(&d1, org, id)?;
    for sql in [
        "DELETE FROM station_models WHERE organization_id = ?1 AND station_id = ?2",
        "DELETE FROM stations WHERE organization_id = ?1 AND id = ?2",
    ] {
        statements.push(db::stmt(&d1, sql, &[num(org), num(id)])?);
    }
    db::batch(&d1, statements).await?;
    routes::publish(&app.env, org).await?;
    ok(json!({"deleted": id}))
}

/// An account body validated against its station's platform (`new`: a credential is required).
async fn account_input(
    req: &mut Request,
    d1: &D1Database,
    org: i64,
    station_id: i64,
    new: bool,
) -> Result<AccountChange, GatewayError> {
    let platform = station_platform(&station_view(d1, org, station_id).await?)?;
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
    let seal = |account| seal_credential(&sb, &credential, org, account);
    let name = change.name.unwrap_or_default();
    let account = NewAccount {
        name: &name,
        kind: credential.kind().as_str(),
        seal: &seal,
        panel_user_id: credential.user_id(),
        checkin_enabled: change.checkin_enabled.unwrap_or(false),
    };
    let limits = org_limits(&d1, org).await?;
    let id = db::insert_account(&d1, org, station_id, &account, now_ms(), limits).await?;
    let view = account_view(&d1, org, station_id, id).await?;
    Ok(json_response(&json!({"success": true, "data": view}), 201))
}

async fn account_view(
    d1: &D1Database,
    org: i64,
    station_id: i64,
    id: i64,
) -> Result<db::AccountView, GatewayError> {
    db::account_views(d1, org, station_id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| {
            GatewayError::NotFound(format!("account {id} not found on station {station_id}"))
        })
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
    let current = account_view(&d1, at.org, at.station_id, at.id).await?;
    match (req.method(), &rest[3..]) {
        (Method::Put, []) => update_account(req, app, &d1, at, current).await,
        (Method::Delete, []) => delete_account(app, &d1, at).await,
        (Method::Post, [switch @ ("enable" | "disable")]) => {
            apply_enabled(app, at.org, at.id, *switch == "enable").await?;
            ok(account_view(&d1, at.org, at.station_id, at.id).await?)
        }
        (method, _) => Err(unknown_endpoint(&method, "provider/", rest)),
    }
}

async fn update_account(
    req: &mut Request,
    app: &App,
    d1: &D1Database,
    at: AccountAt,
    current: db::AccountView,
) -> Result<Response, GatewayError> {
    let AccountAt {
        org,
        station_id,
        id,
    } = at;
    let change = account_input(req, d1, org, station_id, false).await?;
    let now = now_ms();
    let mut statements = vec![db::stmt(
        d1,
        "UPDATE accounts SET name = ?1, checkin_enabled = ?2, updated_at = ?3 WHERE organization_id = ?4 AND id = ?5",
        &[change.name.unwrap_or(current.name).into(), num(change.checkin_enabled.map_or(current.checkin_enabled, i64::from)),
          num(now), num(org), num(id)],
    )?];
    if let Some(credential) = &change.credential {
        // A new credential replaces any login session and gets a fresh health check at the next sync.
        statements.push(db::stmt(
            d1,
            "UPDATE accounts SET credential_kind = ?1, credential_ciphertext = ?2, panel_user_id = ?3, session_ciphertext = NULL, \
             health = CASE WHEN enabled = 1 THEN 'healthy' ELSE health END, health_reason = NULL WHERE organization_id = ?4 AND id = ?5",
            &[credential.kind().as_str().into(), seal_credential(&*app.secret_box()?, credential, org, id)?.into(), credential.user_id().into(), num(org), num(id)],
        )?);
    }
    db::batch(d1, statements).await?;
    if let Some(enabled) = change.enabled {
        apply_enabled(app, org, id, enabled).await?;
    }
    ok(account_view(d1, org, station_id, id).await?)
}

async fn delete_account(
    app: &App,
    d1: &D1Database,
    AccountAt { org, id, .. }: AccountAt,
) -> Result<Response, GatewayError> {
    let mut statements = delete_account_data(d1, org, id, "account_id = ?2")?;
    statements.push(db::stmt(
        d1,
        "DELETE FROM accounts WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )?);
    db::batch(d1, statements).await?;
    routes::publish(&app.env, org).await?;
    ok(json!({"deleted": id}))
}

/// Disabling takes the account's keys and channels out of the route table (the route query
/// joins `accounts.enabled`); re-enabling puts the same channels back, settings intact.
async fn apply_enabled(app: &App, org: i64, id: i64, enabled: bool) -> Result<(), GatewayError> {
    let now = now_ms();
    let (health, reason) = if enabled {
        ("healthy", JsValue::NULL)
    } else {
        ("disabled", "disabled by an admin".into())
    };
    db::run(
        &app.db()?,
        "UPDATE accounts SET enabled = ?1, health = ?2, health_reason = ?3, health_changed_at = ?4, updated_at = ?4 \
         WHERE organization_id = ?5 AND id = ?6 AND enabled <> ?1",
        &[num(i64::from(enabled)), health.into(), reason, num(now), num(org), num(id)],
    )
    .await?;
    routes::publish(&app.env, org).await.map(|_| ())
}

/// An upstream key as the admin API shows it: hint only, and whether it is routable now.
#[derive(Serialize, Deserialize)]
struct KeyView {
    id: i64,
    account_id: i64,
    remote_id: Option<String>,
    name: String,
    key_hint: String,
    status: String,
    status_reason: Option<String>,
    group_name: String,
    source: String,
    account_enabled: i64,
    routes: i64,
}

async fn list_keys(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    station_view(&d1, org, station_id).await?;
    let keys: Vec<KeyView> = db::all(
        &d1,
        "SELECT k.id, k.account_id, k.remote_id, k.name, k.key_hint, k.status, k.status_reason, k.group_name, k.source, a.enabled AS account_enabled, \
                (SELECT COUNT(*) FROM route_entries r WHERE r.organization_id = ?1 AND r.upstream_key_id = k.id) AS routes \
         FROM upstream_keys k JOIN accounts a ON a.id = k.account_id AND a.organization_id = k.organization_id \
         WHERE k.organization_id = ?1 AND k.station_id = ?2 ORDER BY k.id",
        &[num(org), num(station_id)],
    )
    .await?;
    ok(keys)
}

async fn checkin_station(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let mut station = station_state(&d1, org, station_id).await?;
    let accounts: Vec<AccountRow> = db::station_accounts(&d1, org, station_id)
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
            None => today_record(&d1, org, account.id, &day).await?,
        };
        records.push(record);
    }
    ok(records)
}

async fn today_record(
    d1: &D1Database,
    org: i64,
    account_id: i64,
    day: &str,
) -> Result<CheckinRecord, GatewayError> {
    db::first(
        d1,
        "SELECT account_id, day, outcome, reward_usd, message, created_at FROM checkin_records WHERE organization_id = ?1 AND account_id = ?2 AND day = ?3",
        &[num(org), num(account_id), day.into()],
    )
    .await?
    .ok_or_else(|| GatewayError::Internal("check-in record vanished".into()))
}

async fn checkin_history(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    station_view(&d1, org, station_id).await?;
    let records: Vec<CheckinRecord> = db::all(
        &d1,
        "SELECT c.account_id, c.day, c.outcome, c.reward_usd, c.message, c.created_at FROM checkin_records c \
         JOIN accounts a ON a.id = c.account_id AND a.organization_id = c.organization_id \
         WHERE c.organization_id = ?1 AND a.station_id = ?2 ORDER BY c.day DESC, c.account_id LIMIT ?3",
        &[num(org), num(station_id), num(HISTORY_LIMIT)],
    )
    .await?;
    ok(records)
}

#[derive(Deserialize)]
struct SnapshotRow {
    account_id: i64,
    balance_usd: Option<f64>,
    used_usd: Option<f64>,
    estimated: i64,
    taken_at: i64,
}

/// Per account: snapshots oldest first, with spend and income between them.
async fn balance_history(app: &App, org: i64, station_id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    station_view(&d1, org, station_id).await?;
    let mut rows: Vec<SnapshotRow> = db::all(
        &d1,
        "SELECT b.account_id, b.balance_usd, b.used_usd, b.estimated, b.taken_at FROM balance_snapshots b \
         JOIN accounts a ON a.id = b.account_id AND a.organization_id = b.organization_id \
         WHERE b.organization_id = ?1 AND a.station_id = ?2 ORDER BY b.taken_at DESC, b.id DESC LIMIT ?3",
        &[num(org), num(station_id), num(HISTORY_LIMIT)],
    )
    .await?;
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

#[derive(Serialize, Deserialize)]
struct JobRunView {
    id: i64,
    job: String,
    trigger: String,
    started_at: i64,
    finished_at: Option<i64>,
    status: String,
    processed: i64,
    failed: i64,
    error: Option<String>,
}

async fn list_job_runs(app: &App, org: i64) -> Result<Response, GatewayError> {
    let runs: Vec<JobRunView> = db::all(
        &app.db()?,
        "SELECT id, job, trigger, started_at, finished_at, status, processed, failed, error FROM job_runs \
         WHERE organization_id = ?1 ORDER BY id DESC LIMIT ?2",
        &[num(org), num(HISTORY_LIMIT)],
    )
    .await?;
    ok(runs)
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
