//! Outbound calls: panel management requests, and the cooldown registry's client side.

use super::app::{outbound_policy, panel_timeout_ms};
use super::durable;
use crate::core::cooldown::{ChannelCooldown, ChannelOutcome};
use crate::core::durable::{CooldownReport, DoCall};
use crate::core::error::GatewayError;
use crate::core::panels::{PanelError, PanelRequest};
use futures::StreamExt;
use wasm_bindgen::JsValue;
use worker::{AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit};

/// The largest panel answer read (pricing and token lists of big panels stay far below).
const PANEL_MAX_BYTES: usize = 4 * 1024 * 1024;

/// A panel's answer: status, body text, and the Set-Cookie values (logins, WAF cookies).
pub struct PanelResponse {
    pub status: u16,
    pub body: String,
    pub set_cookie: Vec<String>,
}

thread_local! {
    /// Panel fetches made by this isolate, so a job can measure what it spent.
    static PANEL_FETCHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Panel fetches so far in this isolate (jobs take the difference over their run).
pub fn panel_fetches() -> u32 {
    PANEL_FETCHES.with(std::cell::Cell::get)
}

/// Sends a panel request built by an adapter.
pub async fn send_panel(base_url: &str, call: &PanelRequest) -> Result<PanelResponse, PanelError> {
    let unreachable = |e: worker::Error| PanelError::Unreachable(e.to_string());
    let headers = Headers::new();
    for (name, value) in &call.headers {
        headers.set(name, value).map_err(unreachable)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(call.method.to_string()))
        .with_headers(headers);
    if let Some(body) = &call.body {
        init.with_body(Some(JsValue::from_str(body)));
    }
    let url = format!("{base_url}{}", call.path);
    outbound_policy()
        .check(&url, None)
        .map_err(|e| PanelError::Unreachable(e.message()))?;
    let request = Request::new_with_init(&url, &init).map_err(unreachable)?;
    PANEL_FETCHES.with(|c| c.set(c.get().saturating_add(1)));
    // Bounded: the whole answer (headers and body) within the timeout, the body within the cap,
    // so a station that hangs or floods costs one bounded slot of a job run.
    let timeout_ms = panel_timeout_ms();
    let signal: AbortSignal = web_sys::AbortSignal::timeout_with_u32(timeout_ms).into();
    let timed_out = |e: worker::Error| {
        PanelError::Unreachable(if signal.aborted() {
            format!("no complete answer within {timeout_ms} ms")
        } else {
            e.to_string()
        })
    };
    let mut resp = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(timed_out)?;
    // workerd keeps each Set-Cookie separate under getAll (a joined header would be ambiguous).
    let set_cookie = resp.headers().get_all("Set-Cookie").unwrap_or_default();
    let too_big = || PanelError::Malformed(format!("answer larger than {PANEL_MAX_BYTES} bytes"));
    let declared = resp
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > PANEL_MAX_BYTES) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    if let Ok(mut stream) = resp.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(timed_out)?;
            if body.len() + chunk.len() > PANEL_MAX_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(PanelResponse {
        status: resp.status_code(),
        body: String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    })
}

/// Every channel of the organization that failed since its last success.
pub async fn cooldown_entries(env: &Env, org: i64) -> Result<Vec<ChannelCooldown>, GatewayError> {
    let mut resp = durable::call(env, org, DoCall::CooldownSnapshot, None).await?;
    Ok(resp.json().await?)
}

pub async fn report_outcomes(
    env: &Env,
    org: i64,
    base_ms: i64,
    outcomes: &[ChannelOutcome],
) -> Result<(), GatewayError> {
    let report = CooldownReport {
        base_ms,
        outcomes: outcomes.to_vec(),
    };
    let body = serde_json::to_string(&report).map_err(|e| GatewayError::Internal(e.to_string()))?;
    durable::call(env, org, DoCall::CooldownReport, Some(body)).await?;
    Ok(())
}

/// Clears one channel's cooldown (or all of the organization's when `channel` is None).
pub async fn clear_cooldown(env: &Env, org: i64, channel: Option<i64>) -> Result<(), GatewayError> {
    durable::call(env, org, DoCall::CooldownClear { channel }, None).await?;
    Ok(())
}

pub async fn ping_cooldown(env: &Env) -> Result<String, GatewayError> {
    let mut resp = durable::call(env, 0, DoCall::CooldownPing, None).await?;
    Ok(resp.text().await?)
}
