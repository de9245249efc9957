//! The usage-log writer: one D1 batch per relayed call (the log row, the daily roll-up and the
//! key's counters), always from `waitUntil`, never in front of the first byte. Everything that
//! stores logs goes through `write`, so moving logs to Analytics Engine or a Queue later is a
//! change of this file only.

use super::db::{self, num, opt_f64, opt_num};
use crate::core::model_list::utc_day;
use crate::core::usage::TokenUsage;
use worker::Env;

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
    pub usage: Option<TokenUsage>,
    pub cost_usd: Option<f64>,
    /// A short class for failures (`upstream_5xx`, `timeout`, `stream_cut`, `client_closed`…).
    pub error_class: Option<String>,
    pub client_closed: bool,
}

pub async fn write(env: &Env, e: &UsageEntry) {
    if let Err(err) = try_write(env, e).await {
        worker::console_error!("usage log write failed: {err}");
    }
}

async fn try_write(env: &Env, e: &UsageEntry) -> Result<(), crate::core::error::GatewayError> {
    let d1 = env.d1("DB")?;
    let tokens =
        |f: fn(&TokenUsage) -> u64| e.usage.map(|u| i64::try_from(f(&u)).unwrap_or(i64::MAX));
    let key_id = (e.gateway_key_id > 0).then_some(e.gateway_key_id);
    let failed = i64::from(e.status >= 400 || e.error_class.is_some());
    let mut statements = vec![
        db::stmt(
            &d1,
            "INSERT INTO usage_logs (organization_id, gateway_key_id, user_id, endpoint, model_requested, model_sent, station_id, route_entry_id, status, attempts, stream, \
             latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_usd, error_class, client_closed, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            &[
                num(e.organization_id), opt_num(key_id), opt_num(e.user_id), e.endpoint.into(), e.model_requested.as_str().into(),
                e.model_sent.as_str().into(), opt_num(e.station_id), opt_num(e.route_entry_id), num(i64::from(e.status)),
                num(i64::from(e.attempts)), num(i64::from(e.stream)), num(e.latency_ms), opt_num(e.ttfb_ms),
                opt_num(tokens(|u| u.prompt_tokens)), opt_num(tokens(|u| u.completion_tokens)), opt_num(tokens(|u| u.cached_tokens)),
                opt_num(tokens(|u| u.reasoning_tokens)), opt_f64(e.cost_usd), e.error_class.as_deref().map_or(wasm_bindgen::JsValue::NULL, Into::into),
                num(i64::from(e.client_closed)), num(e.started_at),
            ],
        )?,
        db::stmt(
            &d1,
            "INSERT INTO usage_daily (organization_id, day, model, station_id, requests, errors, prompt_tokens, completion_tokens, cost_usd, latency_ms_sum) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (organization_id, day, model, station_id) DO UPDATE SET requests = requests + 1, errors = errors + excluded.errors, \
             prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens, \
             cost_usd = cost_usd + excluded.cost_usd, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum",
            &[
                num(e.organization_id), utc_day(e.started_at).into(), e.model_requested.as_str().into(), num(e.station_id.unwrap_or(0)),
                num(failed), num(tokens(|u| u.prompt_tokens).unwrap_or(0)), num(tokens(|u| u.completion_tokens).unwrap_or(0)),
                wasm_bindgen::JsValue::from_f64(e.cost_usd.unwrap_or(0.0)), num(e.latency_ms),
            ],
        )?,
    ];
    if let Some(id) = key_id {
        statements.push(db::stmt(
            &d1,
            "UPDATE gateway_keys SET used_requests = used_requests + 1, used_cost_usd = used_cost_usd + ?1, last_used_at = ?2 \
             WHERE id = ?3 AND organization_id = ?4",
            &[wasm_bindgen::JsValue::from_f64(e.cost_usd.unwrap_or(0.0)), num(e.started_at), num(id), num(e.organization_id)],
        )?);
    }
    db::batch(&d1, statements).await
}
