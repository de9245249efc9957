//! The relay hot path: authenticate the gateway key, pick a channel, forward the original
//! bytes with the upstream key swapped in, fail over before the first byte, and hand the
//! upstream body to the client (natively piped; SSE through the usage-reading pump).

use super::app::{
    body_bytes, now_ms, open_key, outbound_policy, upstream_key_aad, App, DEFAULT_ORGANIZATION_ID,
};
use super::embeddings::{self, EmbedCall};
use super::repo::gateway_keys;
use super::stream::{self, StreamJob};
use super::usage_log::{self, UsageEntry};
use super::{cache, pins, routes, upstream};
use crate::core::convert::{
    self, convert_request, tokens, GeminiFraming, ResponseContext, StreamConverter,
};
use crate::core::cooldown::{parse_retry_after, ChannelCooldown, ChannelOutcome};
use crate::core::crypto::{constant_time_eq, fill_random};
use crate::core::dialect::Dialect;
use crate::core::endpoint::{
    gemini_path_with_model, pinned_call, ModelSource, PinKind, RelayEndpoint, UpstreamAuth,
};
use crate::core::endpoint::{plan_call, CallPlan};
use crate::core::error::GatewayError;
use crate::core::gateway_key::{hash_key, GatewayKeyRecord};
use crate::core::headers::forwardable_request_header;
use crate::core::multipart;
use crate::core::redact::{scrub_message, scrub_station};
use crate::core::request_head::scan_request_head;
use crate::core::routing::{choose_channel, Channel};
use crate::core::usage::{passthrough_usage, Pricing, WireFamily};
use futures::future::{select, Either};
use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Delay, Headers, Method, Request, RequestInit, Response};

/// Relays one call of any endpoint in the table of `core::endpoint`.
pub async fn handle(
    req: &mut Request,
    app: &App,
    endpoint: RelayEndpoint,
) -> Result<Response, GatewayError> {
    let started = now_ms();
    let key = authorize(req, app, started).await?;
    super::plans::check_daily_request(app, key.organization_id).await?;
    let body = req.bytes().await?;
    let (model, stream) = request_model(req, &endpoint, &body)?;
    if let Some(model) = &model {
        key.check_model(model)?;
    }
    let org = key.organization_id;
    let table = routes::load(app, org).await?;
    let candidates: Cow<[Channel]> = match &model {
        Some(model) => Cow::Borrowed(
            table
                .channels(model)
                .ok_or_else(|| GatewayError::ModelNotFound(model.clone()))?,
        ),
        None => Cow::Owned(table.any_model_channels()),
    };
    let path_and_query = upstream_path(&req.url()?);
    if let Some(dialect) = endpoint.counts_tokens_of {
        let local = |c: &Channel| {
            matches!(
                plan_call(&endpoint, c.served(), &path_and_query),
                CallPlan::LocalCount(_)
            )
        };
        if candidates.iter().all(local) {
            let estimate = tokens::estimate_tokens(dialect, &body);
            return Ok(bytes_response(
                200,
                "application/json",
                tokens::count_tokens_body(dialect, estimate),
            ));
        }
    }
    let model_name = model.unwrap_or_default();
    let mut log = UsageEntry {
        organization_id: org,
        gateway_key_id: key.id,
        user_id: key.user_id,
        endpoint: endpoint.name,
        model_requested: model_name.clone(),
        stream,
        started_at: started,
        ..UsageEntry::default()
    };
    let gemini_framing = endpoint.stream_from_path.then(|| {
        if path_and_query.contains("alt=sse") {
            GeminiFraming::Sse
        } else {
            GeminiFraming::JsonArray
        }
    });
    let outbound = Outbound {
        req,
        endpoint: &endpoint,
        model: Some(&model_name)
            .filter(|m| !m.is_empty() && endpoint.model == ModelSource::JsonBody),
        body: &body,
        path_and_query,
        gemini_framing,
        // Conversational and embedding answers come whole unless streamed.
        long_body: stream || (endpoint.dialect.is_none() && endpoint.embeddings.is_none()),
        first_byte_timeout_ms: first_byte_timeout_ms(app),
        org,
    };
    key.admit()?;
    let result = attempt_channels(app, org, &candidates, &outbound, &model_name).await;
    log.attempts = result.attempts;
    match result.outcome {
        Ok((resp, channel, conversion)) => {
            log.model_sent = channel.upstream_model.clone();
            log.station_id = Some(channel.station_id);
            log.route_entry_id = Some(channel.id);
            log.status = resp.status_code();
            log.ttfb_ms = Some(now_ms() - started);
            let pin = endpoint.pins.map(|kind| PinTarget {
                kind,
                station_id: channel.station_id,
                upstream_key_id: channel.upstream_key_id,
            });
            let how = Delivery {
                family: endpoint.family,
                pricing: channel.pricing,
                pin,
                conversion,
            };
            deliver(app, req, resp, how, log).await
        }
        Err(err) => {
            log.status = err.status();
            log.error_class = Some(err.code().to_string());
            log.latency_ms = now_ms() - started;
            let env = app.env.clone();
            app.ctx
                .wait_until(async move { usage_log::write(&env, &log).await });
            Err(err)
        }
    }
}

/// Presented key → usable record: present, enabled, unexpired, within limits, allowed IP.
pub async fn authorize(
    req: &Request,
    app: &App,
    now: i64,
) -> Result<Rc<GatewayKeyRecord>, GatewayError> {
    let presented = presented_key(req).ok_or_else(|| {
        GatewayError::Unauthorized("Missing API key: send `Authorization: Bearer ag-…`".into())
    })?;
    let key = authenticate(app, &presented, now).await?;
    key.check_usable(now)?;
    key.check_limits()?;
    key.check_ip(req.headers().get("CF-Connecting-IP")?.as_deref())?;
    Ok(key)
}

/// The routing model (if the endpoint has one) and whether a stream was asked for.
fn request_model(
    req: &Request,
    endpoint: &RelayEndpoint,
    body: &[u8],
) -> Result<(Option<String>, bool), GatewayError> {
    match &endpoint.model {
        ModelSource::JsonBody => {
            let head =
                scan_request_head(body).map_err(|e| GatewayError::MalformedJson(e.to_string()))?;
            let model = head
                .model
                .filter(|m| !m.is_empty())
                .ok_or_else(|| GatewayError::InvalidRequest("`model` is required".into()))?;
            Ok((Some(model), head.stream))
        }
        ModelSource::Multipart => {
            let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
            let boundary = multipart::boundary(&content_type).ok_or_else(|| {
                GatewayError::InvalidRequest(
                    "this endpoint takes multipart/form-data with a boundary".into(),
                )
            })?;
            let model = multipart::text_field(body, boundary, "model").ok_or_else(|| {
                GatewayError::InvalidRequest("the form field `model` is required".into())
            })?;
            Ok((Some(model), false))
        }
        ModelSource::Path(model) => Ok((Some(model.clone()), endpoint.stream_from_path)),
        ModelSource::Any => Ok((None, false)),
    }
}

fn first_byte_timeout_ms(app: &App) -> u64 {
    u64::try_from(app.config().first_byte_timeout_seconds * 1000).unwrap_or(120_000)
}

struct Attempts<'a> {
    outcome: Result<(Response, &'a Channel, Option<ResponseContext>), GatewayError>,
    attempts: u32,
}

/// Tries channels until one answers without a channel fault, within the attempt budget.
async fn attempt_channels<'a>(
    app: &App,
    org: i64,
    channels: &'a [Channel],
    outbound: &Outbound<'_>,
    model: &str,
) -> Attempts<'a> {
    let now = now_ms();
    let failing = failing_channels(app, org, now).await;
    let config = app.config();
    let max_attempts = usize::try_from(config.relay_max_attempts).unwrap_or(3);
    let base_ms = config.cooldown_base_seconds * 1000;
    let mut tried: Vec<i64> = Vec::new();
    let mut outcomes: Vec<ChannelOutcome> = Vec::new();
    let mut rejected_keys: Vec<(i64, String)> = Vec::new();
    let what = if model.is_empty() {
        "this call".to_string()
    } else {
        format!("`{model}`")
    };
    let mut last_error =
        GatewayError::NoChannelAvailable(format!("no channel is available for {what}"));
    let finish = |outcome, tried: &Vec<i64>, outcomes, rejected_keys| {
        report(app, org, base_ms, outcomes, rejected_keys);
        Attempts {
            outcome,
            attempts: u32::try_from(tried.len()).unwrap_or(u32::MAX),
        }
    };

    while tried.len() < max_attempts {
        let cooling = |id: i64| failing.get(&id).copied().filter(|until| *until > now);
        let native = |c: &Channel| {
            matches!(
                plan_call(outbound.endpoint, c.served(), &outbound.path_and_query),
                CallPlan::Native { .. }
            )
        };
        let Some(channel) = choose_channel(channels, &tried, cooling, native, random_u32()) else {
            break;
        };
        tried.push(channel.id);
        match send(app, outbound, channel).await {
            Err(SendFailure::Request(err)) => {
                return finish(Err(err), &tried, outcomes, rejected_keys);
            }
            Ok((resp, conversion)) if resp.status_code() < 400 => {
                if failing.contains_key(&channel.id) {
                    outcomes.push(ChannelOutcome {
                        channel_id: channel.id,
                        success: true,
                        retry_after_s: None,
                        error: String::new(),
                    });
                }
                return finish(
                    Ok((resp, channel, conversion)),
                    &tried,
                    outcomes,
                    rejected_keys,
                );
            }
            Ok((mut resp, conversion)) => {
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
                    let answer = match &conversion {
                        Some(ctx) => {
                            let converted = convert::convert_response(ctx, status, text.as_bytes());
                            bytes_response(converted.status, "application/json", converted.body)
                        }
                        None => passthrough_error(
                            status,
                            &scrub_station(&text, &channel.base_url),
                            resp.headers(),
                        ),
                    };
                    return finish(Ok((answer, channel, None)), &tried, outcomes, rejected_keys);
                }
                // Clients and the cooldown registry get at most 1 kB, without the station's
                // URL or anything credential-shaped.
                let message = upstream_message(&text).map_or_else(
                    || format!("upstream returned HTTP {status}"),
                    |m| scrub_message(&m, &channel.base_url),
                );
                if status == 401 {
                    rejected_keys.push((channel.upstream_key_id, message.clone()));
                }
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
                        "every channel for {what} failed; the last upstream rejected its key (HTTP {status})"
                    ))
                } else {
                    GatewayError::Upstream {
                        status,
                        message,
                        retry_after_s,
                    }
                };
            }
            Err(SendFailure::Channel(detail)) => {
                let detail = scrub_message(&detail, &channel.base_url);
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
                        "all channels for {what} failed; last: {detail}"
                    ));
                }
            }
        }
    }
    finish(Err(last_error), &tried, outcomes, rejected_keys)
}

/// Where a created resource must be reached again.
struct PinTarget {
    kind: PinKind,
    station_id: i64,
    upstream_key_id: i64,
}

/// How a successful upstream answer is to be delivered.
struct Delivery {
    family: WireFamily,
    pricing: Pricing,
    pin: Option<PinTarget>,
    /// Set when the request was converted: the answer is converted back for the client.
    conversion: Option<ResponseContext>,
}

/// Hands the upstream answer to the client; usage, pins and the log are read off a copy (or,
/// for SSE, off the pump) after the response has started. Converted answers are converted
/// back: whole bodies at once, streams chunk by chunk in the pump.
async fn deliver(
    app: &App,
    client: &Request,
    mut resp: Response,
    how: Delivery,
    mut log: UsageEntry,
) -> Result<Response, GatewayError> {
    let Delivery {
        family,
        pricing,
        pin,
        conversion,
    } = how;
    let content_type = resp
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") && resp.status_code() < 400 {
        let config = app.config();
        let keepalive = Duration::from_secs(u64::try_from(config.keepalive_seconds).unwrap_or(15));
        let client_stall =
            Duration::from_secs(u64::try_from(config.client_stall_seconds).unwrap_or(30));
        let job = StreamJob {
            env: app.env.clone(),
            family,
            keepalive,
            client_stall,
            pricing,
            log,
            client_signal: client.inner().signal(),
            converter: conversion.map(|ctx| {
                StreamConverter::new(ResponseContext {
                    created: unix_seconds(),
                    ..ctx
                })
            }),
        };
        return stream::relay(&app.ctx, resp, job).map_err(GatewayError::Internal);
    }
    let env = app.env.clone();
    if let Some(ctx) = conversion {
        let body = body_bytes(&resp).await?;
        let ctx = ResponseContext {
            created: unix_seconds(),
            ..ctx
        };
        let converted = convert::convert_response(&ctx, resp.status_code(), &body);
        log.usage = convert::usage_from_body(ctx.upstream, &body);
        log.status = converted.status;
        log.cost_usd = pricing.cost_usd(log.usage).filter(|_| log.status < 400);
        log.latency_ms = now_ms() - log.started_at;
        app.ctx
            .wait_until(async move { usage_log::write(&env, &log).await });
        let mut answer = bytes_response(converted.status, "application/json", converted.body);
        if let Some(retry) = converted.should_retry {
            answer
                .headers_mut()
                .set("x-should-retry", if retry { "true" } else { "false" })?;
        }
        return Ok(answer);
    }
    if content_type.contains("json") {
        let copy = resp.cloned()?;
        app.ctx.wait_until(async move {
            let body = body_bytes(&copy).await.unwrap_or_default();
            log.usage = passthrough_usage(&body);
            if log.status < 400 {
                log.cost_usd = pricing.cost_usd(log.usage);
                if let Some(pin) = pin {
                    pin_resource(&env, &log, &pin, &body).await;
                }
            }
            log.latency_ms = now_ms() - log.started_at;
            usage_log::write(&env, &log).await;
        });
    } else {
        // Binary or plain-text answers (speech, transcripts as text/srt/vtt) carry no usage.
        log.cost_usd = pricing.per_call.filter(|_| log.status < 400);
        log.latency_ms = now_ms() - log.started_at;
        app.ctx
            .wait_until(async move { usage_log::write(&env, &log).await });
    }
    Ok(resp)
}

/// `fetch` as workers-rs does it, minus its reading of the answer's `cf` and `webSocket`
/// properties, which a relayed HTTP answer never has and which cost a crossing each.
async fn fetch_upstream(
    request: &Request,
    signal: &web_sys::AbortSignal,
) -> Result<Response, worker::Error> {
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request_and_init(request.inner(), &init)).await?;
    let answer: web_sys::Response = answer.dyn_into()?;
    let builder = Response::builder()
        .with_status(answer.status())
        .with_headers(Headers(answer.headers()));
    Ok(match answer.body() {
        Some(body) => builder.stream(body),
        None => builder.empty(),
    })
}

fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body)
}

/// Remembers on which channel a file / video task / stored response was created.
async fn pin_resource(env: &worker::Env, log: &UsageEntry, pin: &PinTarget, body: &[u8]) {
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(id) = ["id", "task_id"]
        .iter()
        .find_map(|k| object[*k].as_str())
        .filter(|id| !id.is_empty())
    else {
        return;
    };
    if let Err(e) = pins::store(
        env,
        log.organization_id,
        pin.kind,
        id,
        pin.station_id,
        pin.upstream_key_id,
        log.gateway_key_id,
        &object,
    )
    .await
    {
        worker::console_error!("pinning {} {id} failed: {e}", pin.kind.as_str());
    }
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

/// After the response (never before the first byte): outcomes go to the cooldown registry, and
/// keys an upstream rejected with 401 are marked invalid, which drops their channels from the
/// route table. (403 is not taken as proof: New API answers 403 when a token may not use one
/// model, which says nothing about the key as a whole; cooldown handles it.)
fn report(
    app: &App,
    org: i64,
    base_ms: i64,
    outcomes: Vec<ChannelOutcome>,
    rejected_keys: Vec<(i64, String)>,
) {
    if outcomes.is_empty() && rejected_keys.is_empty() {
        return;
    }
    let env = app.env.clone();
    app.ctx.wait_until(async move {
        if !outcomes.is_empty() {
            if let Err(e) = upstream::report_outcomes(&env, org, base_ms, &outcomes).await {
                worker::console_error!("cooldown report failed: {e:?}");
            }
        }
        if !rejected_keys.is_empty() {
            if let Err(e) = routes::invalidate_keys(&env, org, &rejected_keys).await {
                worker::console_error!("marking rejected keys invalid failed: {e:?}");
            }
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
pub(super) struct Outbound<'a> {
    pub req: &'a Request,
    pub endpoint: &'a RelayEndpoint,
    /// The client's model when the JSON body names it (renamed for mapped channels).
    pub model: Option<&'a String>,
    pub body: &'a [u8],
    /// As the client called it (standard paths), without our `key=` parameter.
    pub path_and_query: String,
    /// Gemini stream framing the client asked for (`alt=sse` or the JSON array).
    pub gemini_framing: Option<GeminiFraming>,
    /// The answer's body may still flow when the first-byte timeout expires (streams, media,
    /// files), so that timeout must stop at the headers.
    pub long_body: bool,
    pub first_byte_timeout_ms: u64,
    /// The caller's organization (the upstream key's ciphertext is bound to it).
    pub org: i64,
}

/// Why an attempt produced no upstream answer.
pub(super) enum SendFailure {
    /// The channel failed (connection, timeout, key): try another one.
    Channel(String),
    /// The request cannot be sent in the form this channel needs: a client error, final.
    Request(GatewayError),
}

/// The body, path and credential header one channel gets for this call.
struct Prepared {
    body: Vec<u8>,
    path: String,
    auth: UpstreamAuth,
    conversion: Option<ResponseContext>,
    /// Set for embeddings converted between OpenAI and Gemini: the answer is converted in `send`.
    embeddings: Option<EmbedCall>,
}

fn prepare(out: &Outbound<'_>, channel: &Channel) -> Result<Prepared, SendFailure> {
    let channel_error = |e: String| SendFailure::Channel(e);
    match plan_call(out.endpoint, channel.served(), &out.path_and_query) {
        CallPlan::Convert { target } => {
            if let Some(kind) = out.endpoint.embeddings {
                let request = embeddings::prepare(kind, out.body, channel)
                    .map_err(|e| SendFailure::Request(conversion_error(e)))?;
                return Ok(Prepared {
                    body: request.body,
                    path: request.path,
                    auth: auth_for(target),
                    conversion: None,
                    embeddings: Some(request.call),
                });
            }
            let client = out.endpoint.dialect.unwrap_or(Dialect::OpenAiChat);
            let converted = convert_request(
                client,
                target,
                out.body,
                &channel.upstream_model,
                out.gemini_framing,
            )
            .map_err(|e| SendFailure::Request(conversion_error(e)))?;
            let path = channel
                .served()
                .upstream_path(target, &converted.path)
                .unwrap_or(converted.path);
            Ok(Prepared {
                body: converted.body,
                path,
                auth: auth_for(target),
                conversion: Some(converted.context),
                embeddings: None,
            })
        }
        CallPlan::Native { path } => {
            let renamed = out.model.is_some_and(|m| *m != channel.upstream_model);
            let body = if renamed {
                rename_model(out.body, &channel.upstream_model).map_err(channel_error)?
            } else {
                out.body.to_vec()
            };
            let path = if matches!(out.endpoint.model, ModelSource::Path(_)) {
                gemini_path_with_model(&path, &channel.upstream_model)
            } else {
                path
            };
            Ok(Prepared {
                body,
                path,
                auth: out.endpoint.auth,
                conversion: None,
                embeddings: None,
            })
        }
        // Handled before any attempt (every channel would answer locally).
        CallPlan::LocalCount(_) => Ok(Prepared {
            body: out.body.to_vec(),
            path: out.path_and_query.clone(),
            auth: out.endpoint.auth,
            conversion: None,
            embeddings: None,
        }),
    }
}

fn auth_for(dialect: Dialect) -> UpstreamAuth {
    match dialect {
        Dialect::AnthropicMessages => UpstreamAuth::AnthropicKey,
        Dialect::Gemini => UpstreamAuth::GoogleKey,
        Dialect::OpenAiChat | Dialect::OpenAiCompletions | Dialect::OpenAiResponses => {
            UpstreamAuth::Bearer
        }
    }
}

fn conversion_error(e: convert::ConvertError) -> GatewayError {
    match e {
        convert::ConvertError::Malformed(m) => GatewayError::MalformedJson(m),
        convert::ConvertError::Unsupported(m) => GatewayError::InvalidRequest(m),
    }
}

pub(super) async fn send(
    app: &App,
    out: &Outbound<'_>,
    channel: &Channel,
) -> Result<(Response, Option<ResponseContext>), SendFailure> {
    let fail = |e: String| SendFailure::Channel(e);
    let prepared = prepare(out, channel)?;
    // The SSRF guard again, right before the key is opened and sent (stored rows may predate it).
    let url = format!("{}{}", channel.base_url, prepared.path);
    let own_host = out.req.headers().get("Host").ok().flatten();
    outbound_policy()
        .check(&url, own_host.as_deref())
        .map_err(|e| fail(e.message()))?;
    let upstream_key = open_key(
        &app.env,
        &channel.key_ciphertext,
        &upstream_key_aad(out.org, channel.station_id),
    )
    .map_err(|e| fail(e.to_string()))?;
    let headers = Headers::new();
    for (name, value) in out.req.headers().entries() {
        if forwardable_request_header(&name) {
            headers
                .append(&name, &value)
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    if prepared.conversion.is_some() || prepared.embeddings.is_some() {
        // The body changed: its client-side headers no longer describe it.
        let _ = headers.delete("anthropic-beta");
        let _ = headers.delete("content-encoding");
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| fail(e.to_string()))?;
    }
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| fail(e.to_string()));
    match prepared.auth {
        UpstreamAuth::Bearer => set("Authorization", &format!("Bearer {upstream_key}"))?,
        UpstreamAuth::AnthropicKey => {
            set("x-api-key", &upstream_key)?;
            if !headers.has("anthropic-version").unwrap_or(false) {
                set("anthropic-version", "2023-06-01")?;
            }
        }
        UpstreamAuth::GoogleKey => set("x-goog-api-key", &upstream_key)?,
    }
    let mut init = RequestInit::new();
    init.with_method(out.req.method()).with_headers(headers);
    if !prepared.body.is_empty() {
        init.with_body(Some(
            js_sys::Uint8Array::from(prepared.body.as_slice()).into(),
        ));
    }
    let request = Request::new_with_init(&url, &init).map_err(|e| fail(e.to_string()))?;
    // Response headers must arrive within the timeout; a hung upstream is aborted and the next
    // channel tried (the client has received nothing yet, so failing over is still safe).
    let timeout_ms = out.first_byte_timeout_ms;
    let answered = if out.long_body {
        // The body must outlive the timeout: our own timer, dropped once the headers arrive.
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = fetch_upstream(&request, &signal);
        let timeout = Delay::from(Duration::from_millis(timeout_ms));
        futures::pin_mut!(fetch);
        match select(fetch, timeout).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(_) => {
                controller.abort();
                None
            }
        }
    } else {
        // A whole answer's first byte comes with its body, so the runtime's own timer bounds it:
        // no wasm callback to create and no timer to clear per call (one A/B run: ~0.2 ms of p50).
        let signal = web_sys::AbortSignal::timeout_with_f64(timeout_ms as f64);
        let result = fetch_upstream(&request, &signal).await;
        if result.is_err() && signal.aborted() {
            None
        } else {
            Some(result)
        }
    };
    let Some(result) = answered else {
        return Err(fail(format!("no response within {timeout_ms} ms")));
    };
    let resp = result.map_err(|e| fail(e.to_string()))?;
    let resp = match &prepared.embeddings {
        Some(call) => embeddings::answer(call, resp).await.map_err(fail)?,
        None => resp,
    };
    Ok((resp, prepared.conversion))
}

/// Only for mapped models: the body is re-serialised with the upstream's model name.
fn rename_model(body: &[u8], upstream_model: &str) -> Result<Vec<u8>, String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    value["model"] = serde_json::Value::String(upstream_model.to_string());
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}

/// The path and query to send upstream, without a `key=` parameter (that is our credential).
pub(super) fn upstream_path(url: &worker::Url) -> String {
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
            return Ok(Rc::new(GatewayKeyRecord::unrestricted(
                DEFAULT_ORGANIZATION_ID,
            )));
        }
    }
    // Lookup is by SHA-256, so the stored value is never compared byte by byte with the secret.
    let hash = hash_key(presented);
    if let Some(cached) = cache::get_key(&hash, now) {
        return cached.ok_or_else(invalid);
    }
    let record = gateway_keys::find(&app.db()?, &hash).await?.map(Rc::new);
    cache::put_key(&hash, record.clone(), now);
    record.ok_or_else(invalid)
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    // A failed random source only skews the spread, never correctness.
    let _ = fill_random(&mut buf);
    u32::from_le_bytes(buf)
}

/// A call about a pinned resource goes to the channel that created it; no failover (the
/// resource exists nowhere else).
pub async fn handle_pinned(
    req: &mut Request,
    app: &App,
    kind: PinKind,
    id: &str,
) -> Result<Response, GatewayError> {
    let started = now_ms();
    let key = authorize(req, app, started).await?;
    super::plans::check_daily_request(app, key.organization_id).await?;
    let org = key.organization_id;
    let channel = pins::find(&app.env, org, kind, id).await?.ok_or_else(|| {
        GatewayError::NotFound(format!(
            "No {} with id `{id}` was created through this gateway",
            kind.as_str()
        ))
    })?;
    let body = req.bytes().await?;
    let endpoint = pinned_call(kind);
    let outbound = Outbound {
        req,
        endpoint: &endpoint,
        model: None,
        body: &body,
        path_and_query: upstream_path(&req.url()?),
        gemini_framing: None,
        long_body: true,
        first_byte_timeout_ms: first_byte_timeout_ms(app),
        org,
    };
    key.admit()?;
    let (resp, _) = send(app, &outbound, &channel)
        .await
        .map_err(|failure| match failure {
            SendFailure::Request(err) => err,
            SendFailure::Channel(detail) => GatewayError::NoChannelAvailable(format!(
                "the station holding {} `{id}` cannot be reached: {detail}",
                kind.as_str()
            )),
        })?;
    if req.method() == Method::Delete && resp.status_code() < 400 {
        pins::remove(&app.env, org, kind, id).await?;
    }
    let log = UsageEntry {
        organization_id: org,
        gateway_key_id: key.id,
        user_id: key.user_id,
        endpoint: endpoint.name,
        station_id: Some(channel.station_id),
        status: resp.status_code(),
        attempts: 1,
        started_at: started,
        ttfb_ms: Some(now_ms() - started),
        ..UsageEntry::default()
    };
    let how = Delivery {
        family: WireFamily::OpenAi,
        pricing: Pricing::default(),
        pin: None,
        conversion: None,
    };
    deliver(app, req, resp, how, log).await
}
