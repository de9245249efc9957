//! Usage logs and the dashboard (`/api/log/`, `/api/log/self`, `/api/dashboard`): filtered,
//! paginated reads of `usage_logs`, and aggregates from `usage_daily` plus latency
//! percentiles from the raw rows of the period.

use super::admin::ok;
use super::app::{now_ms, App};
use super::db::{self, num};
use crate::core::error::GatewayError;
use crate::core::model_list::utc_day;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Request, Response};

const DAY_MS: i64 = 86_400_000;

/// Query-string filters shared by the list and the dashboard.
struct Filters {
    from: i64,
    to: i64,
    model: Option<String>,
    key_id: Option<i64>,
    /// Only the calls of this user's keys (`Some(None)`: the keys without a user).
    keys_of: Option<Option<i64>>,
    status: Option<String>,
    page: i64,
    page_size: i64,
}

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

/// `WHERE` clause and its bound values; only placeholders are formatted into the SQL.
fn where_clause(org: i64, f: &Filters) -> (String, Vec<JsValue>) {
    let mut sql = String::from("organization_id = ?1 AND created_at >= ?2 AND created_at < ?3");
    let mut args = vec![num(org), num(f.from), num(f.to)];
    let mut push = |cond: &str, value: JsValue, sql: &mut String| {
        args.push(value);
        sql.push_str(&format!(" AND {cond} ?{}", args.len()));
    };
    if let Some(model) = &f.model {
        push("model_requested =", model.as_str().into(), &mut sql);
    }
    if let Some(key) = f.key_id {
        push("gateway_key_id =", num(key), &mut sql);
    }
    if let Some(user) = f.keys_of {
        push(
            "gateway_key_id IN (SELECT id FROM gateway_keys WHERE organization_id = ?1 AND user_id IS",
            db::opt_num(user),
            &mut sql,
        );
        sql.push(')');
    }
    match f.status.as_deref() {
        Some("success") => sql.push_str(" AND status < 400 AND error_class IS NULL"),
        Some("error") => sql.push_str(" AND (status >= 400 OR error_class IS NOT NULL)"),
        Some(code) => push("status =", num(code.parse::<i64>().unwrap_or(0)), &mut sql),
        None => {}
    }
    (sql, args)
}

#[derive(Serialize, Deserialize)]
struct LogRow {
    id: i64,
    gateway_key_id: Option<i64>,
    user_id: Option<i64>,
    endpoint: String,
    model_requested: String,
    model_sent: String,
    station_id: Option<i64>,
    route_entry_id: Option<i64>,
    status: i64,
    attempts: i64,
    stream: i64,
    latency_ms: i64,
    ttfb_ms: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cached_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    cost_usd: Option<f64>,
    error_class: Option<String>,
    client_closed: i64,
    created_at: i64,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
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
    let (cond, mut args) = where_clause(org, &f);
    let d1 = app.db()?;
    let total: Option<Count> = db::first(
        &d1,
        &format!("SELECT COUNT(*) AS n FROM usage_logs WHERE {cond}"),
        &args,
    )
    .await?;
    args.push(num(f.page_size));
    args.push(num((f.page - 1) * f.page_size));
    let n = args.len();
    let rows: Vec<LogRow> = db::all(
        &d1,
        &format!(
            "SELECT id, gateway_key_id, user_id, endpoint, model_requested, model_sent, station_id, route_entry_id, status, attempts, stream, \
             latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_usd, error_class, client_closed, created_at \
             FROM usage_logs WHERE {cond} ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{n}",
            n - 1
        ),
        &args,
    )
    .await?;
    ok(
        json!({"items": rows, "total": total.map_or(0, |c| c.n), "page": f.page, "page_size": f.page_size}),
    )
}

#[derive(Serialize, Deserialize)]
struct Totals {
    /// NULL when the period has no traffic (SUM over no rows).
    requests: Option<i64>,
    errors: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cost_usd: Option<f64>,
    latency_ms_sum: Option<i64>,
}

#[derive(Deserialize)]
struct Latency {
    latency_ms: i64,
}

/// `GET /api/dashboard?days=7`: totals, success rate, latency percentiles, and requests,
/// tokens and cost by day, model and station.
pub async fn dashboard(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let f = filters(req, 7)?;
    let d1 = app.db()?;
    let (from_day, to_day) = (utc_day(f.from), utc_day(f.to));
    let daily = |group: &str, select: &str| {
        format!(
            "SELECT {select} SUM(requests) AS requests, SUM(errors) AS errors, SUM(prompt_tokens) AS prompt_tokens, \
             SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd, SUM(latency_ms_sum) AS latency_ms_sum \
             FROM usage_daily d WHERE d.organization_id = ?1 AND d.day >= ?2 AND d.day <= ?3 {group}"
        )
    };
    let range = [num(org), from_day.as_str().into(), to_day.as_str().into()];
    let by_day: Vec<Value> = db::all(
        &d1,
        &daily("GROUP BY d.day ORDER BY d.day", "d.day,"),
        &range,
    )
    .await?;
    let by_model: Vec<Value> = db::all(
        &d1,
        &daily("GROUP BY d.model ORDER BY requests DESC", "d.model,"),
        &range,
    )
    .await?;
    let by_station: Vec<Value> = db::all(
        &d1,
        &daily(
            "GROUP BY d.station_id ORDER BY requests DESC",
            "d.station_id, (SELECT name FROM stations s WHERE s.id = d.station_id AND s.organization_id = d.organization_id) AS station_name,",
        ),
        &range,
    )
    .await?;
    let totals: Option<Totals> = db::first(&d1, &daily("", ""), &range).await?;
    let totals = totals.unwrap_or(Totals {
        requests: None,
        errors: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        latency_ms_sum: None,
    });
    let percentiles = latency_percentiles(&d1, org, &f).await?;
    let requests = totals.requests.unwrap_or(0);
    let success_rate =
        (requests > 0).then(|| (requests - totals.errors.unwrap_or(0)) as f64 / requests as f64);
    ok(json!({
        "from": f.from, "to": f.to,
        "requests": requests,
        "errors": totals.errors.unwrap_or(0),
        "success_rate": success_rate,
        "prompt_tokens": totals.prompt_tokens.unwrap_or(0),
        "completion_tokens": totals.completion_tokens.unwrap_or(0),
        "cost_usd": totals.cost_usd.unwrap_or(0.0),
        "latency_ms": percentiles,
        "by_day": by_day, "by_model": by_model, "by_station": by_station,
    }))
}

/// p50/p95/p99 of the period's raw rows: one ordered read per percentile (by offset), so no
/// row list is ever loaded into the worker.
async fn latency_percentiles(
    d1: &worker::D1Database,
    org: i64,
    f: &Filters,
) -> Result<Value, GatewayError> {
    let (cond, args) = where_clause(org, f);
    let count: Option<Count> = db::first(
        d1,
        &format!("SELECT COUNT(*) AS n FROM usage_logs WHERE {cond}"),
        &args,
    )
    .await?;
    let n = count.map_or(0, |c| c.n);
    if n == 0 {
        return Ok(json!({"p50": null, "p95": null, "p99": null}));
    }
    let mut out = serde_json::Map::new();
    for (name, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        let offset = ((n as f64 * q).ceil() as i64 - 1).clamp(0, n - 1);
        let mut a = args.clone();
        a.push(num(offset));
        let row: Option<Latency> = db::first(
            d1,
            &format!("SELECT latency_ms FROM usage_logs WHERE {cond} ORDER BY latency_ms LIMIT 1 OFFSET ?{}", a.len()),
            &a,
        )
        .await?;
        out.insert(name.into(), json!(row.map(|r| r.latency_ms)));
    }
    Ok(Value::Object(out))
}
