//! The usage-log writer. Calls log from `waitUntil`, never in front of the first byte; entries
//! are gathered in the isolate and written together — one D1 batch (one round trip) for up to
//! `FLUSH_AT` calls, with the daily roll-ups and key counters summed per batch — by the call
//! that fills the buffer, or by the first call of a batch after `LOG_FLUSH_MS`. Everything that
//! stores logs goes through `write`, so moving logs to Analytics Engine or a Queue later is a
//! change of this file only.

use super::app::config;
use super::cache;
use super::db::{self, num, opt_f64, opt_num};
use crate::core::error::GatewayError;
use crate::core::model_list::utc_day;
use crate::core::usage::Usage;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Delay, Env};

/// A batch is written as soon as it holds this many calls.
const FLUSH_AT: usize = 25;

thread_local! {
    static PENDING: RefCell<Vec<UsageEntry>> = const { RefCell::new(Vec::new()) };
    /// The queue holds calls of a failed batch: the next call flushes, whatever the count.
    static KEPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One relayed call, as logged.
#[derive(Debug, Clone, Default)]
pub struct UsageEntry {
    pub organization_id: i64,
    /// 0 for the instance-wide `PROXY_TOKEN` (stored as NULL).
    pub gateway_key_id: i64,
    pub user_id: Option<i64>,
    pub endpoint: &'static str,
    pub model_requested: String,
    pub model_sent: String,
    pub station_id: Option<i64>,
    pub route_entry_id: Option<i64>,
    pub status: u16,
    pub attempts: u32,
    pub stream: bool,
    pub started_at: i64,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    /// A short class for failures (`upstream_5xx`, `timeout`, `stream_cut`, `client_closed`…).
    pub error_class: Option<String>,
    pub client_closed: bool,
}

/// The one finishing step of every relayed call's entry: its latency up to now, then `write`.
pub async fn finish(env: &Env, mut e: UsageEntry) {
    e.latency_ms = super::app::now_ms() - e.started_at;
    write(env, &e).await;
}

/// Queues one call's log. Resolves once the entry is stored, or handed to a batch that
/// another call of this isolate will store (so `waitUntil` keeps the isolate alive until then).
pub async fn write(env: &Env, e: &UsageEntry) {
    // The entry is final: its key's limit sees the cost now, not when the batch lands.
    if let Some(cost) = e.cost_usd.filter(|_| e.gateway_key_id > 0) {
        cache::with_key_usage(e.gateway_key_id, |u| u.count_cost(cost));
    }
    let queued = PENDING.with(|p| {
        let mut pending = p.borrow_mut();
        pending.push(e.clone());
        pending.len()
    });
    if queued == 1 || KEPT.with(|k| k.replace(false)) {
        // First of a batch (or after a failed one): wait for company, then write what gathered.
        let wait_ms = u64::try_from(config(env).log_flush_ms).unwrap_or(1000);
        Delay::from(Duration::from_millis(wait_ms)).await;
    } else if queued < FLUSH_AT {
        return;
    }
    let batch = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if batch.is_empty() {
        return;
    }
    // A failed batch (one D1 transaction: all or nothing) is retried with backoff; if it still
    // fails it goes back to the queue for the next batch instead of being dropped, up to
    // `MAX_PENDING` calls per isolate. What an isolate holds is lost if the isolate is.
    for (attempt, backoff_ms) in RETRY_BACKOFF_MS.iter().enumerate() {
        match write_batch(env, &batch).await {
            Ok(()) => return,
            Err(err) if attempt + 1 == RETRY_BACKOFF_MS.len() => {
                let kept = PENDING.with(|p| {
                    let mut pending = p.borrow_mut();
                    let room = MAX_PENDING.saturating_sub(pending.len());
                    pending.extend(batch.iter().take(room).cloned());
                    room.min(batch.len())
                });
                KEPT.with(|k| k.set(kept > 0));
                worker::console_error!(
                    "usage log write of {} calls failed: {err}; {kept} kept for the next batch",
                    batch.len()
                );
            }
            Err(_) => Delay::from(Duration::from_millis(*backoff_ms)).await,
        }
    }
}

/// Waits before the 2nd and 3rd try of a failed batch (the last entry is unused).
const RETRY_BACKOFF_MS: [u64; 3] = [200, 1_000, 0];
/// Calls an isolate keeps queued after failed writes, at most.
const MAX_PENDING: usize = 1_000;

fn tokens(e: &UsageEntry, f: fn(&Usage) -> u64) -> Option<i64> {
    e.usage.map(|u| i64::try_from(f(&u)).unwrap_or(i64::MAX))
}

/// Daily roll-up sums for one (organization, day, model, station).
#[derive(Default)]
struct DailySums {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_usd: f64,
    latency_ms: i64,
}

async fn write_batch(env: &Env, batch: &[UsageEntry]) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    let mut statements: Vec<D1PreparedStatement> = Vec::with_capacity(batch.len() + 8);
    let mut daily: BTreeMap<(i64, String, String, i64), DailySums> = BTreeMap::new();
    let mut keys: BTreeMap<(i64, i64), (i64, f64, i64)> = BTreeMap::new();
    for e in batch {
        let key_id = (e.gateway_key_id > 0).then_some(e.gateway_key_id);
        statements.push(db::stmt(
            &d1,
            "INSERT INTO usage_logs (organization_id, gateway_key_id, user_id, endpoint, model_requested, model_sent, station_id, route_entry_id, status, attempts, stream, \
             latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_usd, error_class, client_closed, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            &[
                num(e.organization_id), opt_num(key_id), opt_num(e.user_id), e.endpoint.into(), e.model_requested.as_str().into(),
                e.model_sent.as_str().into(), opt_num(e.station_id), opt_num(e.route_entry_id), num(i64::from(e.status)),
                num(i64::from(e.attempts)), num(i64::from(e.stream)), num(e.latency_ms), opt_num(e.ttfb_ms),
                opt_num(tokens(e, |u| u.prompt_tokens)), opt_num(tokens(e, |u| u.completion_tokens)), opt_num(tokens(e, |u| u.cached_tokens)),
                opt_num(tokens(e, |u| u.reasoning_tokens)), opt_f64(e.cost_usd), e.error_class.as_deref().map_or(JsValue::NULL, Into::into),
                num(i64::from(e.client_closed)), num(e.started_at),
            ],
        )?);
        let sums = daily
            .entry((
                e.organization_id,
                utc_day(e.started_at),
                e.model_requested.clone(),
                e.station_id.unwrap_or(0),
            ))
            .or_default();
        sums.requests += 1;
        sums.errors += i64::from(e.status >= 400 || e.error_class.is_some());
        sums.prompt_tokens += tokens(e, |u| u.prompt_tokens).unwrap_or(0);
        sums.completion_tokens += tokens(e, |u| u.completion_tokens).unwrap_or(0);
        sums.cost_usd += e.cost_usd.unwrap_or(0.0);
        sums.latency_ms += e.latency_ms;
        if let Some(id) = key_id {
            let counter = keys.entry((e.organization_id, id)).or_insert((0, 0.0, 0));
            counter.0 += 1;
            counter.1 += e.cost_usd.unwrap_or(0.0);
            counter.2 = counter.2.max(e.started_at);
        }
    }
    for ((org, day, model, station), sums) in &daily {
        statements.push(db::stmt(
            &d1,
            "INSERT INTO usage_daily (organization_id, day, model, station_id, requests, errors, prompt_tokens, completion_tokens, cost_usd, latency_ms_sum) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (organization_id, day, model, station_id) DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors, \
             prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens, \
             cost_usd = cost_usd + excluded.cost_usd, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum",
            &[
                num(*org), day.as_str().into(), model.as_str().into(), num(*station), num(sums.requests), num(sums.errors),
                num(sums.prompt_tokens), num(sums.completion_tokens), JsValue::from_f64(sums.cost_usd), num(sums.latency_ms),
            ],
        )?);
    }
    for ((org, id), (requests, cost, last_used)) in &keys {
        statements.push(db::stmt(
            &d1,
            "UPDATE gateway_keys SET used_requests = used_requests + ?1, used_cost_usd = used_cost_usd + ?2, last_used_at = MAX(COALESCE(last_used_at, 0), ?3) \
             WHERE id = ?4 AND organization_id = ?5",
            &[num(*requests), JsValue::from_f64(*cost), num(*last_used), num(*id), num(*org)],
        )?);
    }
    db::batch(&d1, statements).await?;
    // Stored: from now on a lookup of these keys reads the calls from D1. (A failed batch
    // leaves them counted in this isolate: the calls did happen.)
    for ((_, id), (requests, cost, _)) in &keys {
        cache::with_key_usage(*id, |u| u.stored(*requests, *cost));
    }
    Ok(())
}
