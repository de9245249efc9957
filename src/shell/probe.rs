//! Upstream key verification, off the request path: the key's own credential on the station's
//! cheapest authenticated route (`GET {prefix}/models` of its primary dialect). One rejected
//! relay call never condemns a key; only a rejected probe marks it invalid (the relay's
//! 401/403), and a passing probe restores it (sync, for keys the panel still lists).

use super::app::{open_key, outbound_policy};
use crate::core::crypto::Aad;
use crate::core::dialect::Dialect;
use crate::core::error::GatewayError;
use crate::core::failover::{probe_result, ProbeResult};
use crate::core::panels::relay_paths::{DialectRoute, Served};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Headers, Method, Request, RequestInit};

/// How long a probe may take before it proves nothing.
const PROBE_TIMEOUT_MS: f64 = 10_000.0;

/// Where a key lives: its station's base URL and dialects, and the sealed key.
pub struct KeyAt<'a> {
    pub base_url: &'a str,
    pub platform: &'a str,
    pub dialects: Option<&'a [DialectRoute]>,
    pub key_ciphertext: &'a str,
    /// The key's row binding (`app::upstream_key_aad`).
    pub aad: Aad<'static>,
}

/// Probes the key; the answer's status line as the reason.
pub async fn verify(env: &Env, at: &KeyAt<'_>) -> (ProbeResult, String) {
    match send(env, at).await {
        Ok((status, detail)) => (probe_result(status), format!("HTTP {status}: {detail}")),
        Err(e) => (ProbeResult::Inconclusive, format!("unreachable: {e}")),
    }
}

async fn send(env: &Env, at: &KeyAt<'_>) -> Result<(u16, String), GatewayError> {
    let served = Served::of(at.platform, at.dialects);
    let dialect = served.primary().unwrap_or(Dialect::OpenAiChat);
    let prefix = served.prefix(dialect).unwrap_or("/v1");
    let url = format!("{}{prefix}/models", at.base_url);
    outbound_policy().check(&url, None)?;
    let key = open_key(env, at.key_ciphertext, &at.aad)?;
    let headers = Headers::new();
    match dialect {
        Dialect::AnthropicMessages => {
            headers.set("x-api-key", &key)?;
            headers.set("anthropic-version", "2023-06-01")?;
        }
        Dialect::Gemini => headers.set("x-goog-api-key", &key)?,
        Dialect::OpenAiChat | Dialect::OpenAiCompletions | Dialect::OpenAiResponses => {
            headers.set("Authorization", &format!("Bearer {key}"))?
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(&url, &init)?;
    let signal = web_sys::AbortSignal::timeout_with_f64(PROBE_TIMEOUT_MS);
    let options = web_sys::RequestInit::new();
    options.set_signal(Some(&signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request_and_init(request.inner(), &options))
        .await
        .map_err(|e| GatewayError::Internal(format!("{e:?}")))?;
    let answer: web_sys::Response = answer
        .dyn_into()
        .map_err(|_| GatewayError::Internal("not a response".into()))?;
    let status = answer.status();
    // Only the start of the answer is kept as the reason; the body is not needed otherwise.
    let text = match answer.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let detail: String = text.chars().take(200).collect();
    Ok((status, detail))
}
