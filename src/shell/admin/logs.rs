//! Usage logs and the dashboard (`/api/log/`, `/api/log/self`, `/api/dashboard`,
//! `/api/dashboard/keys`): the query string's filters, whose calls a caller sees, and the
//! answers' shapes; the reads are `repo::usage`.

use crate::core::error::GatewayError;
use crate::core::model_list::utc_day;
use crate::shell::app::{now_ms, App};
use crate::shell::http::ok;
use crate::shell::repo::usage::{self, Daily, Filters};
use serde_json::json;
use worker::{Request, Response};

const DAY_MS: i64 = 86_400_000;

/// Whose calls a log list shows.
pub enum LogScope {
    /// Every call of the organization (admins).
    Organization,
    /// The calls of the gateway key presented (`/api/log/self` with a key).
    Key(i64),
    /// The calls of the signed-in user's own keys (`/api/log/self` with a session).
    KeysOf(Option<i64>),
}

fn filters(req: &Request, default_days: i64) -> Result<Filters, GatewayError> {
    let url = req.url()?;
    let now = now_ms();
    let mut f = Filters {
        from: now - default_days * DAY_MS,
        to: now + 1,
        model: None,
        key_id: None,
        keys_of: None,
        status: None,
        page: 1,
        page_size: 50,
    };
    let bad = |name: &str, v: &str| {
        GatewayError::InvalidRequest(format!(
            "query parameter `{name}` has an invalid value `{v}`"
        ))
    };
    for (k, v) in url.query_pairs() {
        let int = || v.parse::<i64>().map_err(|_| bad(&k, &v));
        match k.as_ref() {
            "from" => f.from = int()?,
            "to" => f.to = int()?,
            "days" => f.from = f.to - int()?.clamp(1, 366) * DAY_MS,
            "model" => f.model = Some(v.to_string()),
            "key_id" => f.key_id = Some(int()?),
            "status" => {
                if !matches!(v.as_ref(), "success" | "error") && v.parse::<u16>().is_err() {
                    return Err(bad("status", &v));
                }
                f.status = Some(v.to_string());
            }
            "page" => f.page = int()?.max(1),
            "page_size" => f.page_size = int()?.clamp(1, 200),
            _ => {}
        }
    }
    Ok(f)
}

/// `scope` narrows the list for `/api/log/self` whatever the query string asks.
pub async fn list(
    req: &Request,
    app: &App,
    org: i64,
    scope: LogScope,
) -> Result<Response, GatewayError> {
    let mut f = filters(req, 30)?;
    match scope {
        LogScope::Organization => {}
        LogScope::Key(id) => f.key_id = Some(id),
        LogScope::KeysOf(user) => f.keys_of = Some(user),
    }
    let (rows, total) = usage::page(&app.db()?, org, &f).await?;
    ok(json!({"items": rows, "total": total, "page": f.page, "page_size": f.page_size}))
}

/// `GET /api/dashboard?days=7`: totals, success rate, latency percentiles, and requests,
/// tokens and cost by day, model and station.
pub async fn dashboard(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let f = filters(req, 7)?;
    let d1 = app.db()?;
    let (from_day, to_day) = (utc_day(f.from), utc_day(f.to));
    let Daily {
        by_day,
        by_model,
        by_station,
        totals,
    } = usage::daily(&d1, org, (&from_day, &to_day)).await?;
    let percentiles = usage::latency_percentiles(&d1, org, &f).await?;
    let success_rate = (totals.requests > 0)
        .then(|| (totals.requests - totals.errors.unwrap_or(0)) as f64 / totals.requests as f64);
    ok(json!({
        "from": f.from, "to": f.to,
        "requests": totals.requests,
        "errors": totals.errors.unwrap_or(0),
        "success_rate": success_rate,
        "prompt_tokens": totals.prompt_tokens.unwrap_or(0),
        "completion_tokens": totals.completion_tokens.unwrap_or(0),
        "cost_usd": totals.cost_usd.unwrap_or(0.0),
        "latency_ms": percentiles,
        "by_day": by_day, "by_model": by_model, "by_station": by_station,
    }))
}

/// `GET /api/dashboard/keys?days=7`: calls, errors, tokens and cost per gateway key over the
/// period the dashboard's filters pick.
pub async fn usage_by_key(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let f = filters(req, 7)?;
    ok(usage::by_key(&app.db()?, org, (f.from, f.to)).await?)
}
