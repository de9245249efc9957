//! Usage reads (`usage_logs`, `usage_daily`): filtered, paginated log pages, daily aggregates
//! and latency percentiles of a period. Only placeholders are formatted into the SQL.

use crate::core::error::GatewayError;
use crate::shell::db::{all, first, num, opt_num};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::D1Database;

/// Query-string filters shared by the list and the dashboard.
pub struct Filters {
    pub from: i64,
    pub to: i64,
    pub model: Option<String>,
    pub key_id: Option<i64>,
    /// Only the calls of this user's keys (`Some(None)`: the keys without a user).
    pub keys_of: Option<Option<i64>>,
    pub status: Option<String>,
    pub page: i64,
    pub page_size: i64,
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
            opt_num(user),
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
/// A log row as the admin API shows it.
pub struct LogRow {
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

/// One page of the log (newest first) and how many rows match in all.
pub async fn page(
    d1: &D1Database,
    org: i64,
    f: &Filters,
) -> Result<(Vec<LogRow>, i64), GatewayError> {
    let (cond, mut args) = where_clause(org, f);
    let total: Option<Count> = first(
        d1,
        &format!("SELECT COUNT(*) AS n FROM usage_logs WHERE {cond}"),
        &args,
    )
    .await?;
    args.push(num(f.page_size));
    args.push(num((f.page - 1) * f.page_size));
    let n = args.len();
    let rows: Vec<LogRow> = all(
        d1,
        &format!(
            "SELECT id, gateway_key_id, user_id, endpoint, model_requested, model_sent, station_id, route_entry_id, status, attempts, stream, \
             latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_usd, error_class, client_closed, created_at \
             FROM usage_logs WHERE {cond} ORDER BY created_at DESC, id DESC LIMIT ?{} OFFSET ?{n}",
            n - 1
        ),
        &args,
    )
    .await?;
    Ok((rows, total.map_or(0, |c| c.n)))
}

#[derive(Serialize, Deserialize)]
pub struct Totals {
    /// 0 when the period has no traffic (the SQL turns SUM's NULL over no rows into 0).
    pub requests: i64,
    pub errors: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub latency_ms_sum: Option<i64>,
}

#[derive(Deserialize)]
struct Latency {
    latency_ms: i64,
}

/// The period's aggregates: by day, model and station, and in total.
pub struct Daily {
    pub by_day: Vec<Value>,
    pub by_model: Vec<Value>,
    pub by_station: Vec<Value>,
    pub totals: Totals,
}

/// Sums of `usage_daily` over the days `from_day..=to_day`.
pub async fn daily(
    d1: &D1Database,
    org: i64,
    (from_day, to_day): (&str, &str),
) -> Result<Daily, GatewayError> {
    let daily = |group: &str, select: &str| {
        format!(
            "SELECT {select} COALESCE(SUM(requests), 0) AS requests, SUM(errors) AS errors, SUM(prompt_tokens) AS prompt_tokens, \
             SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd, SUM(latency_ms_sum) AS latency_ms_sum \
             FROM usage_daily d WHERE d.organization_id = ?1 AND d.day >= ?2 AND d.day <= ?3 {group}"
        )
    };
    let range = [num(org), from_day.into(), to_day.into()];
    let by_day: Vec<Value> = all(
        d1,
        &daily("GROUP BY d.day ORDER BY d.day", "d.day,"),
        &range,
    )
    .await?;
    let by_model: Vec<Value> = all(
        d1,
        &daily("GROUP BY d.model ORDER BY requests DESC", "d.model,"),
        &range,
    )
    .await?;
    let by_station: Vec<Value> = all(
        d1,
        &daily(
            "GROUP BY d.station_id ORDER BY requests DESC",
            "d.station_id, (SELECT name FROM stations s WHERE s.id = d.station_id AND s.organization_id = d.organization_id) AS station_name,",
        ),
        &range,
    )
    .await?;
    let totals: Option<Totals> = first(d1, &daily("", ""), &range).await?;
    let totals = totals.unwrap_or(Totals {
        requests: 0,
        errors: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        latency_ms_sum: None,
    });
    Ok(Daily {
        by_day,
        by_model,
        by_station,
        totals,
    })
}

/// p50/p95/p99 of the period's raw rows: one ordered read per percentile (by offset), so no
/// row list is ever loaded into the worker.
pub async fn latency_percentiles(
    d1: &D1Database,
    org: i64,
    f: &Filters,
) -> Result<Value, GatewayError> {
    let (cond, args) = where_clause(org, f);
    let count: Option<Count> = first(
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
        let row: Option<Latency> = first(
            d1,
            &format!("SELECT latency_ms FROM usage_logs WHERE {cond} ORDER BY latency_ms LIMIT 1 OFFSET ?{}", a.len()),
            &a,
        )
        .await?;
        out.insert(name.into(), json!(row.map(|r| r.latency_ms)));
    }
    Ok(Value::Object(out))
}

#[derive(Deserialize)]
struct Spend {
    cost: Option<f64>,
}

/// What the organization spent in all (from the daily aggregates).
pub async fn organization_spend(d1: &D1Database, org: i64) -> Result<f64, GatewayError> {
    let spend: Option<Spend> = first(
        d1,
        "SELECT SUM(cost_usd) AS cost FROM usage_daily WHERE organization_id = ?1",
        &[num(org)],
    )
    .await?;
    Ok(spend.and_then(|s| s.cost).unwrap_or(0.0))
}

/// Calls, errors, tokens and cost of one gateway key (None: calls without a key) in a period.
#[derive(Serialize, Deserialize)]
pub struct KeyUsage {
    gateway_key_id: Option<i64>,
    name: Option<String>,
    key_hint: Option<String>,
    requests: i64,
    errors: i64,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cost_usd: Option<f64>,
}

/// The 100 busiest keys of `from..to`, busiest first.
pub async fn by_key(
    d1: &D1Database,
    org: i64,
    (from, to): (i64, i64),
) -> Result<Vec<KeyUsage>, GatewayError> {
    all(
        d1,
        "SELECT u.gateway_key_id, k.name, k.key_hint, COUNT(*) AS requests, \
                SUM(CASE WHEN u.status >= 400 OR u.error_class IS NOT NULL THEN 1 ELSE 0 END) AS errors, \
                SUM(u.prompt_tokens) AS prompt_tokens, SUM(u.completion_tokens) AS completion_tokens, SUM(u.cost_usd) AS cost_usd \
         FROM usage_logs u LEFT JOIN gateway_keys k ON k.id = u.gateway_key_id AND k.organization_id = u.organization_id \
         WHERE u.organization_id = ?1 AND u.created_at >= ?2 AND u.created_at < ?3 \
         GROUP BY u.gateway_key_id ORDER BY requests DESC LIMIT 100",
        &[num(org), num(from), num(to)],
    )
    .await
}
