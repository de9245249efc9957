//! Outbound calls: panel management requests, the cooldown registry's client side, and bounded
//! reads of upstream bodies (nothing a station sends is held whole beyond a cap).

use super::app::{outbound_policy, panel_timeout_ms};
use super::durable;
use crate::core::cooldown::{ChannelCooldown, ChannelOutcome};
use crate::core::durable::{CooldownReport, DoCall};
use crate::core::error::GatewayError;
use crate::core::headers::relayable_response_header;
use crate::core::panels::{PanelError, PanelRequest};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit, Response, ResponseBody,
};

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

/// The station's answer headers that may reach the client (`core::headers` allow-list).
pub fn relayed_headers(upstream: &Headers) -> Headers {
    let headers = Headers::new();
    for (name, value) in upstream.entries() {
        if relayable_response_header(&name) {
            let _ = headers.append(&name, &value);
        }
    }
    headers
}

/// What a bounded read kept of a body.
pub struct Bounded {
    /// The body's first bytes, up to the cap.
    pub head: Vec<u8>,
    /// The last bytes (up to `tail_max`) when the body was longer than the cap.
    pub tail: Option<Vec<u8>>,
    /// The body's whole length.
    pub total: usize,
}

impl Bounded {
    /// The body, if it was read whole.
    pub fn whole(&self) -> Option<&[u8]> {
        self.tail.is_none().then_some(self.head.as_slice())
    }
}

/// Reads a body chunk by chunk, keeping at most its first `cap` bytes and, past that, its last
/// `tail_max` bytes: memory stays bounded whatever the station sends.
pub async fn read_bounded(
    body: &ResponseBody,
    cap: usize,
    tail_max: usize,
) -> Result<Bounded, worker::Error> {
    let mut read = Bounded {
        head: Vec::new(),
        tail: None,
        total: 0,
    };
    let stream = match body {
        ResponseBody::Stream(stream) => stream,
        ResponseBody::Body(bytes) => {
            read.total = bytes.len();
            read.head = bytes[..bytes.len().min(cap)].to_vec();
            if bytes.len() > cap {
                read.tail = Some(bytes[bytes.len().saturating_sub(tail_max)..].to_vec());
            }
            return Ok(read);
        }
        ResponseBody::Empty => return Ok(read),
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let step = JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&step, &JsValue::from_str("done"))?
            .as_bool()
            .unwrap_or(true)
        {
            break;
        }
        let chunk =
            js_sys::Uint8Array::new(&js_sys::Reflect::get(&step, &JsValue::from_str("value"))?)
                .to_vec();
        read.total += chunk.len();
        let room = cap.saturating_sub(read.head.len());
        read.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            let tail = read.tail.get_or_insert_with(Vec::new);
            tail.extend_from_slice(&chunk[room..]);
            let excess = tail.len().saturating_sub(tail_max);
            tail.drain(..excess);
        }
    }
    Ok(read)
}

/// An upstream's error body as text, at most `ERROR_BODY_MAX` bytes of it (enough for any
/// error message; a station answering an error with megabytes is not read further).
pub async fn error_text(resp: &Response) -> String {
    match read_bounded(resp.body(), ERROR_BODY_MAX, 0).await {
        Ok(read) => String::from_utf8_lossy(&read.head).into_owned(),
        Err(_) => String::new(),
    }
}

/// The most of an upstream error body that is read.
pub const ERROR_BODY_MAX: usize = 64 << 10;
/// The most of a panel's answer that is read (token lists and price tables run to megabytes).
const PANEL_BODY_MAX: usize = 16 << 20;

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
    let resp = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(timed_out)?;
    // workerd keeps each Set-Cookie separate under getAll (a joined header would be ambiguous).
    let set_cookie = resp.headers().get_all("Set-Cookie").unwrap_or_default();
    let read = read_bounded(resp.body(), PANEL_BODY_MAX, 0)
        .await
        .map_err(timed_out)?;
    if read.total > PANEL_BODY_MAX {
        return Err(PanelError::Unreachable(format!(
            "the panel's answer is over {} MB",
            PANEL_BODY_MAX >> 20
        )));
    }
    let body = String::from_utf8_lossy(&read.head).into_owned();
    Ok(PanelResponse {
        status: resp.status_code(),
        body,
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
