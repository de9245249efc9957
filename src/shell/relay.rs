//! The relay hot path: authenticate the gateway key, pick a channel, forward the original
//! bytes with the upstream key swapped in, fail over before the first byte, and hand the
//! upstream body stream to the client untouched (the runtime pipes it natively).

use super::app::{now_ms, App, DEFAULT_ORGANIZATION_ID};
use super::{cache, db, routes, upstream};
use crate::core::cooldown::{parse_retry_after, ChannelCooldown, ChannelOutcome};
use crate::core::crypto::{constant_time_eq, fill_random};
use crate::core::error::GatewayError;
use crate::core::gateway_key::{hash_key, GatewayKeyRecord};
use crate::core::headers::forwardable_request_header;
use crate::core::request_head::scan_request_head;
use crate::core::routing::{choose_channel, Channel};
use futures::future::{select, Either};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Request, RequestInit, Response};

/// Relays an OpenAI-format JSON endpoint (chat/completions, completions, embeddings).
pub async fn handle_openai(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let now = now_ms();
    let presented = presented_key(req).ok_or_else(|| {
        GatewayError::Unauthorized("Missing API key: send `Authorization: Bearer ag-…`".into())
    })?;
    let key = authenticate(app, &presented, now).await?;
    key.check_usable(now)?;
    key.check_ip(req.headers().get("CF-Connecting-IP")?.as_deref())?;

    let body = req.bytes().await?;
    let head = scan_request_head(&body).map_err(|e| GatewayError::MalformedJson(e.to_string()))?;
    let model = head
        .model
        .ok_or_else(|| GatewayError::InvalidRequest("`model` is required".into()))?;
    key.check_model(&model)?;

    let org = key.organization_id;
    let table = routes::load(app, org).await?;
    let channels = table
        .channels(&model)
        .ok_or_else(|| GatewayError::ModelNotFound(model.clone()))?;
    let failing = failing_channels(app, org, now).await;

    let max_attempts =
        usize::try_from(app.var_i64("RELAY_MAX_ATTEMPTS", 3).clamp(1, 10)).unwrap_or(3);
    let base_ms = app.var_i64("COOLDOWN_BASE_SECONDS", 600).max(1) * 1000;
    let mut tried: Vec<i64> = Vec::new();
    let mut outcomes: Vec<ChannelOutcome> = Vec::new();
    let mut last_error =
        GatewayError::NoChannelAvailable(format!("no channel is available for `{model}`"));
    let outbound = Outbound {
        req,
        model: &model,
        body: &body,
        path_and_query: upstream_path(&req.url()?),
        first_byte_timeout_ms: u64::try_from(
            app.var_i64("FIRST_BYTE_TIMEOUT_SECONDS", 120)
                .clamp(1, 3600)
                * 1000,
        )
        .unwrap_or(120_000),
    };

    while tried.len() < max_attempts {
        let cooling = |id: i64| failing.get(&id).copied().filter(|until| *until > now);
        let Some(channel) = choose_channel(channels, &tried, cooling, random_u32()) else {
            break;
        };
        tried.push(channel.id);
        let attempt = send(app, &outbound, channel).await;
        match attempt {
            Ok(resp) if resp.status_code() < 400 => {
                if failing.contains_key(&channel.id) {
                    outcomes.push(ChannelOutcome {
                        channel_id: channel.id,
                        success: true,
                        retry_after_s: None,
                        error: String::new(),
                    });
                }
                report(app, org, base_ms, outcomes);
                return Ok(resp);
            }
            Ok(mut resp) => {
                let status = resp.status_code();
                let retry_after_s = resp
                    .headers()
                    .get("Retry-After")
                    .ok()
                    .flatten()
                    .and_then(|v| parse_retry_after(&v));
                let text = resp.text().await.unwrap_or_default();
                if !channel_fault(status) {
                    // The request itself is at fault: the client gets the upstream's answer as is.
                    report(app, org, base_ms, outcomes);
                    return Ok(passthrough_error(status, &text, resp.headers()));
                }
                let message = upstream_message(&text)
                    .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
                outcomes.push(failure(
                    channel,
                    retry_after_s,
                    format!("HTTP {status}: {message}"),
                    now,
                    base_ms,
                    org,
                ));
                last_error = if matches!(status, 401 | 403) {
                    // The channel's own key was rejected: not the client's credential problem.
                    GatewayError::NoChannelAvailable(format!(
                        "every channel for `{model}` failed; the last upstream rejected its key (HTTP {status})"
                    ))
                } else {
                    GatewayError::Upstream {
                        status,
                        message,
                        retry_after_s,
                    }
                };
            }
            Err(detail) => {
                outcomes.push(failure(
                    channel,
                    None,
                    format!("connection: {detail}"),
                    now,
                    base_ms,
                    org,
                ));
                // An upstream's own HTTP error tells the client more than a connection failure.
                if !matches!(last_error, GatewayError::Upstream { .. }) {
                    last_error = GatewayError::NoChannelAvailable(format!(
                        "all channels for `{model}` failed; last: {detail}"
                    ));
                }
            }
        }
    }
    report(app, org, base_ms, outcomes);
    Err(last_error)
}

/// 408, 429, 5xx and credential rejections are the channel's fault: try another one.
fn channel_fault(status: u16) -> bool {
    matches!(status, 401 | 403 | 408 | 429) || status >= 500
}

fn failure(
    channel: &Channel,
    retry_after_s: Option<u64>,
    error: String,
    now: i64,
    base_ms: i64,
    org: i64,
) -> ChannelOutcome {
    let outcome = ChannelOutcome {
        channel_id: channel.id,
        success: false,
        retry_after_s,
        error,
    };
    // Cool the channel in this isolate at once, by the same rule the registry applies.
    let mut local = ChannelCooldown::default();
    local.apply(&outcome, now, base_ms);
    cache::note_cooling(org, channel.id, local.until_ms, now);
    outcome
}

/// Sends outcomes to the cooldown registry after the response (never before the first byte).
fn report(app: &App, org: i64, base_ms: i64, outcomes: Vec<ChannelOutcome>) {
    if outcomes.is_empty() {
        return;
    }
    let env = app.env.clone();
    app.ctx.wait_until(async move {
        if let Err(e) = upstream::report_outcomes(&env, org, base_ms, &outcomes).await {
            worker::console_error!("cooldown report failed: {e:?}");
        }
    });
}

/// Channels with failures since their last success → cooldown end. The isolate snapshot is
/// refreshed from the Durable Object at most every couple of seconds; if the object cannot
/// be reached, routing goes on without cooldown data rather than failing the request.
async fn failing_channels(app: &App, org: i64, now: i64) -> Rc<HashMap<i64, i64>> {
    if let Some(snapshot) = cache::get_cooldowns(org, now) {
        return snapshot;
    }
    let snapshot = match upstream::cooldown_entries(&app.env, org).await {
        Ok(entries) => entries
            .into_iter()
            .map(|c| (c.channel_id, c.until_ms))
            .collect(),
        Err(e) => {
            worker::console_error!("cooldown snapshot unavailable: {e:?}");
            HashMap::new()
        }
    };
    let snapshot = Rc::new(snapshot);
    cache::put_cooldowns(org, snapshot.clone(), now);
    snapshot
}

/// What every attempt of one relayed request shares.
struct Outbound<'a> {
    req: &'a Request,
    model: &'a str,
    body: &'a [u8],
    path_and_query: String,
    first_byte_timeout_ms: u64,
}

async fn send(app: &App, out: &Outbound<'_>, channel: &Channel) -> Result<Response, String> {
    let upstream_key = app
        .secret_box()
        .map_err(|e| e.to_string())?
        .open(&channel.key_ciphertext)
        .map_err(|e| e.to_string())?;
    let headers = Headers::new();
    for (name, value) in out.req.headers().entries() {
        if forwardable_request_header(&name) {
            headers.append(&name, &value).map_err(|e| e.to_string())?;
        }
    }
    headers
        .set("Authorization", &format!("Bearer {upstream_key}"))
        .map_err(|e| e.to_string())?;
    let payload = if channel.upstream_model == out.model {
        out.body.to_vec()
    } else {
        rename_model(out.body, &channel.upstream_model)?
    };
    let mut init = RequestInit::new();
    init.with_method(out.req.method())
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(payload.as_slice()).into()));
    let url = format!("{}{}", channel.base_url, out.path_and_query);
    let request = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    // Response headers must arrive within the timeout; a hung upstream is aborted and the next
    // channel tried (the client has received nothing yet, so failing over is still safe).
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetcher = Fetch::Request(request);
    let fetch = fetcher.send_with_signal(&signal);
    let timeout = Delay::from(Duration::from_millis(out.first_byte_timeout_ms));
    futures::pin_mut!(fetch);
    match select(fetch, timeout).await {
        Either::Left((result, _)) => result.map_err(|e| e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Err(format!(
                "no response within {} ms",
                out.first_byte_timeout_ms
            ))
        }
    }
}

/// Only for mapped models: the body is re-serialised with the upstream's model name.
fn rename_model(body: &[u8], upstream_model: &str) -> Result<Vec<u8>, String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    value["model"] = serde_json::Value::String(upstream_model.to_string());
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}

/// The path and query to send upstream, without a `key=` parameter (that is our credential).
fn upstream_path(url: &worker::Url) -> String {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "key")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut clean = url.clone();
    if kept.is_empty() {
        clean.set_query(None);
    } else {
        clean.query_pairs_mut().clear().extend_pairs(kept);
    }
    match clean.query() {
        Some(query) => format!("{}?{query}", clean.path()),
        None => clean.path().to_string(),
    }
}

fn passthrough_error(status: u16, text: &str, upstream_headers: &Headers) -> Response {
    let headers = Headers::new();
    let content_type = upstream_headers
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_else(|| "application/json".into());
    let _ = headers.set("Content-Type", &content_type);
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.as_bytes().to_vec())
}

/// Extracts a human message from the usual upstream error shapes.
fn upstream_message(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let found = [
        &v["error"]["message"],
        &v["message"],
        &v["detail"]["message"],
        &v["error"],
    ]
    .into_iter()
    .find_map(|m| m.as_str().filter(|s| !s.is_empty()).map(str::to_owned));
    found
}

fn presented_key(req: &Request) -> Option<String> {
    let headers = req.headers();
    let bearer = headers.get("Authorization").ok().flatten().and_then(|v| {
        let v = v.trim();
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|k| k.trim().to_string())
    });
    bearer
        .or_else(|| headers.get("x-api-key").ok().flatten())
        .or_else(|| headers.get("x-goog-api-key").ok().flatten())
        .or_else(|| {
            req.url()
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "key")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|k| !k.is_empty())
}

/// Gateway key → record: isolate cache (seconds) → D1. `PROXY_TOKEN` is an instance-wide key.
async fn authenticate(
    app: &App,
    presented: &str,
    now: i64,
) -> Result<Rc<GatewayKeyRecord>, GatewayError> {
    let invalid = || GatewayError::Unauthorized("Invalid API key".into());
    if let Some(proxy) = app.secret("PROXY_TOKEN") {
        if constant_time_eq(proxy.as_bytes(), presented.as_bytes()) {
            return Ok(Rc::new(GatewayKeyRecord {
                id: 0,
                organization_id: DEFAULT_ORGANIZATION_ID,
                user_id: None,
                enabled: true,
                expires_at: None,
                allowed_models: vec![],
                allowed_ips: vec![],
            }));
        }
    }
    // Lookup is by SHA-256, so the stored value is never compared byte by byte with the secret.
    let hash = hash_key(presented);
    if let Some(cached) = cache::get_key(&hash, now) {
        return cached.ok_or_else(invalid);
    }
    let record = db::find_gateway_key(&app.db()?, &hash).await?.map(Rc::new);
    cache::put_key(&hash, record.clone(), now);
    record.ok_or_else(invalid)
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    // A failed random source only skews the spread, never correctness.
    let _ = fill_random(&mut buf);
    u32::from_le_bytes(buf)
}
